/**
 * GraphQL validation rules bounding what one operation may ask for (graphql-armor's rules): selection
 * depth, aliases and estimated cost. A rejection is a QUERY_TOO_COMPLEX error (HTTP 400) stating the limit.
 * A page size written out of range (`first: 100000`) is BAD_USER_INPUT, as docs/api.md says, not a cost
 * rejection: the cost rule multiplies by literal `first` values, so it stays quiet when that is the reason.
 */
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  GraphQLError,
  Kind,
  visit,
  type ASTVisitor,
  type DocumentNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { GlimpseError, badInput, firstRangeMessage } from '../errors.js';

export interface QueryLimits {
  maxQueryDepth: number;
  maxAliases: number;
  maxComplexity: number;
  maxFirst: number;
}

/** Literal `first` arguments (every `first` of the schema is a connection's page size) outside 1..max. */
function hasFirstOutOfRange(doc: DocumentNode, max: number): boolean {
  let found = false;
  visit(doc, {
    Argument(node) {
      if (node.name.value === 'first' && node.value.kind === Kind.INT && !inRange(node.value.value, max)) found = true;
    },
  });
  return found;
}
const inRange = (literal: string, max: number) => Number(literal) >= 1 && Number(literal) <= max;

function firstInRangeRule(max: number): ValidationRule {
  return (ctx: ValidationContext): ASTVisitor => ({
    Argument(node) {
      if (node.name.value !== 'first' || node.value.kind !== Kind.INT || inRange(node.value.value, max)) return;
      const err = badInput(firstRangeMessage(max), { field: 'first', min: 1, max });
      ctx.reportError(new GraphQLError(err.message, { nodes: [node], originalError: err }));
    },
  });
}

/** The setting that raises each limit, and what a client can change instead (named in the message). */
const REMEDY: Record<string, string> = {
  depth: 'select less deeply nested fields, or raise GLIMPSE_MAX_QUERY_DEPTH',
  aliases: 'use fewer aliases, or raise GLIMPSE_MAX_ALIASES',
  complexity: 'select fewer fields or nested lists (images of products of images…), or raise GLIMPSE_MAX_COMPLEXITY',
};

function reject(what: string) {
  return (ctx: ValidationContext | null, err: GraphQLError) => {
    const detail = err.message.replace(/^Syntax Error:\s*/, '').replace(/\.?\s*$/, '');
    const glimpse = new GlimpseError('QUERY_TOO_COMPLEX', `operation rejected: ${detail}; ${REMEDY[what]}`, {
      limit: what,
    });
    const report = new GraphQLError(glimpse.message, { originalError: glimpse });
    if (!ctx) throw report;
    ctx.reportError(report);
  };
}

export function queryLimitRules(limits: QueryLimits): ValidationRule[] {
  const common = { exposeLimits: true, propagateOnRejection: false };
  const complexityRejected = reject('complexity');
  return [
    firstInRangeRule(limits.maxFirst),
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
      onReject: [
        (ctx: ValidationContext | null, err: GraphQLError) => {
          if (ctx && hasFirstOutOfRange(ctx.getDocument(), limits.maxFirst)) return;
          complexityRejected(ctx, err);
        },
      ],
    }) as ValidationRule,
  ];
}
