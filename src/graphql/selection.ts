/**
 * Which fields of its result a query selected. Some answers cost SQL only when asked for (a search's
 * `totalCount` is a count over the match set): the resolver asks here instead of making clients pass a flag
 * beside the field they already wrote.
 */
import type { GraphQLResolveInfo, SelectionSetNode } from 'graphql';

function selects(set: SelectionSetNode | undefined, field: string, info: GraphQLResolveInfo, depth = 0): boolean {
  if (!set || depth > 10) return false;
  for (const s of set.selections) {
    if (s.kind === 'Field' && s.name.value === field) return true;
    if (s.kind === 'InlineFragment' && selects(s.selectionSet, field, info, depth + 1)) return true;
    if (s.kind === 'FragmentSpread') {
      const fragment = info.fragments[s.name.value];
      if (fragment && selects(fragment.selectionSet, field, info, depth + 1)) return true;
    }
  }
  return false;
}

/** Whether the resolved field's selection (fragments included) names `field` directly. */
export function selectsField(info: GraphQLResolveInfo | undefined, field: string): boolean {
  if (!info) return false;
  return info.fieldNodes.some((n) => selects(n.selectionSet, field, info));
}
