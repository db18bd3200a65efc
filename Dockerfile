# syntax=docker/dockerfile:1
# Glimpse API image. Targets:
#   cpu  (default) — node:20-bookworm-slim, CPU inference
#   cuda           — CUDA 12 + cuDNN 9 runtime, runs `npm run setup:gpu` for onnxruntime-node's CUDA provider
# The steps are the same commands CI runs (npm ci, prisma generate), so the image builds what CI tests.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund

FROM deps AS cuda-deps
RUN npm run setup:gpu

FROM node:20-bookworm-slim AS cpu
ENV NODE_ENV=production GLIMPSE_DATA_DIR=/data GLIMPSE_MODEL_DIR=/models PORT=4000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
RUN mkdir -p /data /models && chown -R node:node /data /models
USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["npm", "start"]

FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 AS cuda
# Node 20 from the official image's binaries (no network access needed beyond the build's base images)
COPY --from=node:20-bookworm-slim /usr/local/bin/node /usr/local/bin/node
COPY --from=node:20-bookworm-slim /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && useradd --create-home --uid 10001 glimpse
ENV NODE_ENV=production GLIMPSE_DATA_DIR=/data GLIMPSE_MODEL_DIR=/models PORT=4000 GLIMPSE_EP=cuda
WORKDIR /app
COPY --from=cuda-deps /app/node_modules ./node_modules
COPY . .
RUN mkdir -p /data /models && chown -R glimpse:glimpse /data /models
USER glimpse
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["npm", "start"]
