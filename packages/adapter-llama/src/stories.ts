/**
 * Story split rule of shared/models/PROVENANCE.md: stories and paragraphs are separated by
 * blank lines; a new story starts at a paragraph beginning with one of these openings.
 */
export const STORY_OPENINGS: readonly string[] = [
  'Once upon a time',
  'Once there was',
  'Once there lived',
  'One day',
  'Once, ',
  'There once was',
  'There was once',
];

/** Splits the evaluation text into stories; a story's paragraphs are joined with '\n'. */
export function splitStories(text: string): string[] {
  const paragraphs = text
    .replace(/\r\n/g, '\n')
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const stories: string[][] = [];
  for (const p of paragraphs) {
    if (stories.length === 0 || STORY_OPENINGS.some((o) => p.startsWith(o))) stories.push([p]);
    else stories[stories.length - 1]?.push(p);
  }
  return stories.map((s) => s.join('\n'));
}
