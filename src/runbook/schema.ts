/**
 * Schemas for everything an author or operator writes: chapter frontmatter,
 * variable declarations, lab topologies. `*Input` is what people write,
 * the inferred type is what code reads.
 */
import { z } from 'zod';

export const PARTS = {
  architecture: { label: 'Architecture', chapters: [1, 2] },
  principles: { label: 'Principles', chapters: [3, 10] },
  deployment: { label: 'Deployment', chapters: [11, 12] },
  operations: { label: 'Operations', chapters: [13, 14] },
  extension: { label: 'Extension', chapters: [15, 15] },
} as const;
export type PartName = keyof typeof PARTS;
export const PART_NAMES = Object.keys(PARTS) as PartName[];

export function partOfChapter(n: number): PartName | undefined {
  return PART_NAMES.find((p) => n >= PARTS[p].chapters[0] && n <= PARTS[p].chapters[1]);
}

/**
 * Variable types. Values of the "inline" types may appear in a script as
 * `{{name}}`: their allowed characters contain no shell syntax, so the
 * validated value is safe to place in the text as it is. `text` and
 * `secret` values can hold anything; they only reach the script as
 * environment variables (`"$name"`), never as `{{name}}`.
 */
export const VAR_TYPES = ['ipv4', 'cidr', 'hostname', 'port', 'int', 'name', 'path', 'text', 'secret'] as const;
export type VarType = (typeof VAR_TYPES)[number];
export const INLINE_VAR_TYPES: ReadonlySet<VarType> = new Set(['ipv4', 'cidr', 'hostname', 'port', 'int', 'name', 'path']);

export const VAR_NAME = /^[a-z][a-z0-9_]*$/;

export const VarDeclSchema = z
  .object({
    /** What kind of value this is; decides validation and whether `{{name}}` is allowed. */
    type: z.enum(VAR_TYPES),
    /** Used when neither the page, the CLI nor the inventory sets a value. Never for secrets. */
    default: z.union([z.string(), z.number()]).optional(),
    /** One line shown beside the input on the page and in `drillbook steps`. */
    description: z.string().optional(),
  })
  .strict()
  .refine((v) => !(v.type === 'secret' && v.default !== undefined), {
    message: 'a secret variable cannot have a default: defaults end up in the static build',
  });
export type VarDecl = z.infer<typeof VarDeclSchema>;

export const ChapterFrontmatterSchema = z
  .object({
    /** Position in the book, 1-15. Must match the file name prefix (03-pacemaker.mdx). */
    chapter: z.number().int().min(1).max(15),
    title: z.string().min(1),
    /** The book part; must agree with the chapter number. */
    part: z.enum(PART_NAMES as [PartName, ...PartName[]]),
    /** One or two sentences: what the reader learns and does. */
    summary: z.string().min(1),
    /** Lab topology its runnable steps need (labs/topologies.yaml), or `none`. */
    lab: z.string().default('none'),
    /** Chapters whose deploy steps must have run first. */
    buildsOn: z.array(z.number().int().min(1).max(15)).default([]),
    /** Variables the chapter's scripts use, by name. */
    vars: z.record(z.string().regex(VAR_NAME, 'variable names are lower_snake_case'), VarDeclSchema).default({}),
    /** Starlight passes these through; allowed so a chapter can set them. */
    description: z.string().optional(),
    draft: z.boolean().optional(),
  })
  .strict()
  .superRefine((fm, ctx) => {
    const expected = partOfChapter(fm.chapter);
    if (expected && fm.part !== expected) {
      ctx.addIssue({ code: 'custom', path: ['part'], message: `chapter ${fm.chapter} belongs to part "${expected}", not "${fm.part}"` });
    }
    for (const b of fm.buildsOn) {
      if (b >= fm.chapter) ctx.addIssue({ code: 'custom', path: ['buildsOn'], message: `chapter ${fm.chapter} cannot build on chapter ${b}: only earlier chapters` });
    }
  });
export type ChapterFrontmatterInput = z.input<typeof ChapterFrontmatterSchema>;
export type ChapterFrontmatter = z.infer<typeof ChapterFrontmatterSchema>;

export const TopologyFileSchema = z
  .object({
    subnet: z.string().regex(/^\d+\.\d+\.\d+\.0\/24$/, 'the lab subnet must be an IPv4 /24 such as 10.77.0.0/24'),
    vips: z.record(z.string(), z.number().int().min(2).max(254)).default({}),
    topologies: z.record(
      z.string().regex(/^[a-z][a-z0-9-]*$/),
      z
        .object({
          description: z.string(),
          nodes: z.record(
            z.string().regex(/^[a-z][a-z0-9-]*$/),
            z.object({ octet: z.number().int().min(2).max(254), groups: z.array(z.string()).default([]) }).strict(),
          ),
        })
        .strict(),
    ),
  })
  .strict();
export type TopologyFile = z.infer<typeof TopologyFileSchema>;
