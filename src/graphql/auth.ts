/**
 * Authorisation checks for resolvers. Authentication happens before GraphQL (src/http/auth.ts): an unknown
 * or revoked key never reaches a resolver, so here the caller is either anonymous or a valid key.
 */
import { GlimpseError } from '../errors.js';
import type { Caller, Role } from '../auth/api-keys.js';
import type { RequestContext } from './context.js';

type WithCaller = Pick<RequestContext, 'caller'> & { config?: { requireReadKey: boolean } };

/** Admin operations: anonymous → UNAUTHENTICATED, a read key → FORBIDDEN. */
export function requireRole(ctx: WithCaller, role: Role): Caller & { role: Role; keyId: string } {
  const { caller } = ctx;
  if (!caller.role || !caller.keyId) {
    throw new GlimpseError(
      'UNAUTHENTICATED',
      `this operation needs an API key with role ${role} (Authorization: Bearer <key>)`,
    );
  }
  if (role === 'admin' && caller.role !== 'admin') {
    throw new GlimpseError('FORBIDDEN', 'this operation needs an admin API key; the key presented is a read key');
  }
  return caller as Caller & { role: Role; keyId: string };
}

export const requireAdmin = (ctx: WithCaller) => requireRole(ctx, 'admin');

/**
 * Storefront reads: allowed anonymously unless GLIMPSE_REQUIRE_READ_KEY is on. (The HTTP layer already
 * refuses anonymous requests in that case; this is the same rule for resolvers reached another way.)
 */
export function requireReader(ctx: WithCaller): void {
  if (ctx.config?.requireReadKey && !ctx.caller.role) {
    throw new GlimpseError('UNAUTHENTICATED', 'this server requires an API key (Authorization: Bearer <key>)');
  }
}
