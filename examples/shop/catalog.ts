// What the shop sells. `discontinued-lamp` is still accepted at checkout but gone
// from the warehouse, so reserving it fails for good: the demo's poison message.
export const PRICES_CENTS: Readonly<Record<string, number>> = {
  mug: 1200,
  lamp: 4900,
  chair: 8900,
  desk: 19900,
  'discontinued-lamp': 3900,
};

export const STOCKED_SKUS = ['mug', 'lamp', 'chair', 'desk'] as const;
export const DISCONTINUED_SKU = 'discontinued-lamp';
/** Every stocked SKU starts with this many; stock only moves through reservations. */
export const INITIAL_STOCK = 1_000_000;

/** The card token the simulated payment gateway declines. */
export const DECLINED_CARD = 'tok_declined';
