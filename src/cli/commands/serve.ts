/** `glimpse serve`: the same server as `npm start` (src/server.ts). */
import type { Command } from 'commander';
import { main } from '../../server.js';

export default function register(program: Command): void {
  program
    .command('serve')
    .description('Serve the GraphQL API (PORT, HOST; embedded database unless DATABASE_URL is set)')
    .option('-p, --port <port>', 'port (default: PORT or 4000)')
    .option('--host <host>', 'interface (default: HOST or 0.0.0.0)')
    .action(async (opts: { port?: string; host?: string }) => {
      const env = { ...process.env };
      if (opts.port !== undefined) env.PORT = opts.port;
      if (opts.host !== undefined) env.HOST = opts.host;
      await main(env);
    });
}
