/** The URL with its password replaced by "***", for logs and error messages. Never throws. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL we can parse: hide anything that looks like user:password@.
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

/** Replaces every occurrence of the given URLs' passwords in a text (e.g. a driver's error message). */
export function redactSecrets(text: string, urls: string[]): string {
  let result = text;
  for (const url of urls) {
    let password: string;
    try {
      password = decodeURIComponent(new URL(url).password);
    } catch {
      continue;
    }
    result = result.split(url).join(redactUrl(url));
    if (password.length > 0) result = result.split(password).join('***');
  }
  return result;
}
