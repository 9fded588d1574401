# The demo and the outbox processes, for `docker compose up` (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run -s db:generate
ENV NODE_ENV=production
CMD ["npm", "run", "demo"]
