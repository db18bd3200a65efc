/**
 * Which text model embeds a query: the image model's own text tower (CLIP reads English, and not much else:
 * 5.6% recall@10 for Chinese queries) or a paired multilingual tower. A request may name the model (`textModel`) or
 * the query's language (`language`, BCP 47); otherwise the configured policy decides, by default from the script:
 * letters outside Latin (CJK, Cyrillic, Arabic, Devanagari, Thai, …) go to the multilingual tower.
 */
export type TextRoutingPolicy = 'auto' | 'multilingual' | 'image-model';

export interface TextRoute {
  /** a model id: the image model's or a paired tower's */
  textModel?: string | null;
  /** BCP 47 language of the query: English → the image model's tower, any other → the first paired tower */
  language?: string | null;
}

export class TextRouteError extends Error {
  override name = 'TextRouteError';
  readonly code = 'BAD_USER_INPUT';
  constructor(
    message: string,
    readonly field: 'textModel' | 'language',
  ) {
    super(message);
  }
}

const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;

/** True when the text has a letter of a script other than Latin. */
export function hasNonLatinLetters(text: string): boolean {
  return /(?![\p{Script=Latin}])\p{L}/u.test(text);
}

/**
 * The id of the model that embeds `text`: `imageModel` or one of `towers` (ids, in configured order).
 * Throws TextRouteError for an unknown `textModel` or a malformed `language`.
 */
export function chooseTextModel(
  text: string,
  route: TextRoute,
  imageModel: string,
  towers: readonly string[],
  policy: TextRoutingPolicy,
): string {
  if (route.textModel != null) {
    if (route.textModel.length > 300) throw new TextRouteError('textModel is at most 300 characters', 'textModel');
    if (route.textModel === imageModel || towers.includes(route.textModel)) return route.textModel;
    throw new TextRouteError(
      `unknown textModel "${route.textModel}"; this server has ${[imageModel, ...towers].map((m) => `"${m}"`).join(', ')}`,
      'textModel',
    );
  }
  const multilingual = towers[0];
  if (route.language != null) {
    if (route.language.length > 35 || !LANGUAGE_TAG.test(route.language))
      throw new TextRouteError(`language must be a BCP 47 tag such as "zh" or "en-GB"`, 'language');
    const english = route.language.toLowerCase().split('-')[0] === 'en';
    return english || !multilingual ? imageModel : multilingual;
  }
  if (!multilingual || policy === 'image-model') return imageModel;
  if (policy === 'multilingual') return multilingual;
  return hasNonLatinLetters(text) ? multilingual : imageModel;
}
