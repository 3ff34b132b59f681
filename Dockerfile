FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev
RUN mkdir -p /var/lib/keybroker && chown node:node /var/lib/keybroker
ENV KEYBROKER_LISTEN=0.0.0.0:8443 KEYBROKER_DATA_DIR=/var/lib/keybroker
VOLUME /var/lib/keybroker
EXPOSE 8443
USER node
CMD ["node", "bin/keybroker.js", "serve"]
