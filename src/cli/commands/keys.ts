/**
 * `glimpse keys create --role admin|read [--name N]` (prints the key once), `glimpse keys list`,
 * `glimpse keys revoke ID|PREFIX`. Works on the configured database (DATABASE_URL, or the embedded one).
 */
import { Command, Option } from 'commander';
import { createKey, listKeys, revokeKey, type ApiKeyInfo } from '../../auth/api-keys.js';
import { withDatabase } from '../database.js';
import type { Role } from '../../auth/api-keys.js';
import { formatTable } from '../table.js';

const date = (d: Date | null) =>
  d
    ? d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z')
    : '-';

/** A plain-text table (no dependencies): one header row, columns padded to their widest cell. */
export function formatKeyTable(keys: ApiKeyInfo[]): string {
  const rows = [
    ['ID', 'NAME', 'ROLE', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED'],
    ...keys.map((k) => [
      k.id,
      k.name ?? '-',
      k.role,
      k.prefix,
      date(k.createdAt),
      date(k.lastUsedAt),
      date(k.revokedAt),
    ]),
  ];
  return formatTable(rows);
}

export default function register(program: Command): void {
  const keys = program.command('keys').description('Manage API keys (Authorization: Bearer <key>)');

  keys
    .command('create')
    .description('Create an API key and print it (shown once: only its hash is stored)')
    .addOption(
      new Option('--role <role>', 'admin (mutations) or read (storefront queries)')
        .choices(['admin', 'read'])
        .makeOptionMandatory(),
    )
    .option('--name <name>', 'a label to recognise the key by')
    .option('--json', 'print {id, key, role, name, prefix} as JSON')
    .action(async (opts: { role: Role; name?: string; json?: boolean }) => {
      const { key, info } = await withDatabase((db) => createKey(db.prisma, opts.role, opts.name));
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({ id: info.id, key, role: info.role, name: info.name, prefix: info.prefix }) + '\n',
        );
        return;
      }
      process.stdout.write(`${key}\n`);
      process.stderr.write(
        `created ${info.role} key ${info.id}${info.name ? ` (${info.name})` : ''}. Store it now: it cannot be shown again.\n`,
      );
    });

  keys
    .command('list')
    .description('List API keys (id, name, role, prefix, created, last used, revoked)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await withDatabase((db) => listKeys(db.prisma));
      process.stdout.write(opts.json ? JSON.stringify(list, null, 2) + '\n' : formatKeyTable(list));
    });

  keys
    .command('revoke')
    .description('Revoke an API key (by id, or by its glk_xxxxxxxx prefix); it is refused from then on')
    .argument('<id>', 'key id (uuid) or prefix')
    .action(async (id: string) => {
      const info = await withDatabase((db) => revokeKey(db.prisma, id));
      process.stdout.write(`revoked ${info.id} (${info.prefix}, ${info.role}${info.name ? `, ${info.name}` : ''})\n`);
    });
}
