/**
 * GraphQL validation rules bounding what one operation may ask for (graphql-armor's rules): selection
 * depth, aliases and estimated cost. A rejection is a QUERY_TOO_COMPLEX error (HTTP 400) stating the limit.
 */
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';
import { GlimpseError } from '../errors.js';

export interface QueryLimits {
  maxQueryDepth: number;
  maxAliases: number;
  maxComplexity: number;
}

function reject(what: string) {
  return (ctx: ValidationContext | null, err: GraphQLError) => {
    const detail = err.message.replace(/^Syntax Error:\s*/, '');
    const glimpse = new GlimpseError('QUERY_TOO_COMPLEX', `operation rejected: ${detail}`, { limit: what });
    const report = new GraphQLError(glimpse.message, { originalError: glimpse });
    if (!ctx) throw report;
    ctx.reportError(report);
  };
}

export function queryLimitRules(limits: QueryLimits): ValidationRule[] {
  const common = { exposeLimits: true, propagateOnRejection: false };
  return [
    maxDepthRule({
      ...common,
      n: limits.maxQueryDepth,
      ignoreIntrospection: true,
      onReject: [reject('depth')],
    }) as ValidationRule,
    maxAliasesRule({ ...common, n: limits.maxAliases, onReject: [reject('aliases')] }) as ValidationRule,
    costLimitRule({
      ...common,
      maxCost: limits.maxComplexity,
      ignoreIntrospection: true,
      onReject: [reject('complexity')],
    }) as ValidationRule,
  ];
}
