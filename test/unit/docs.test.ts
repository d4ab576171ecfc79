// The platform rules the code cites are in the repository: every "PLATFORM.md §n" (or a range §n-m)
// in code, tests and the README names a `## n.` section of docs/PLATFORM.md, and nothing cites the
// shared PLATFORM-ADVANCED.md, which lives outside the repository (what the code takes from it is §10 here).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '..', '..');
const DOC = 'docs/PLATFORM.md';
const SELF = 'test/unit/docs.test.ts';
const SCANNED_DIRS = ['nodes', 'emulator', 'test', 'bench', 'soak', 'scripts'];
const SCANNED_FILES = ['README.md'];
const SOURCE = /\.(?:ts|js|mjs|cjs|html)$/;
const SKIPPED = new Set(['node_modules', 'dist', join('bench', 'results')]);
/** The section sign, spelled out so that this file's own samples cite nothing. */
const S = '\u00a7';

type Cited = 'PLATFORM.md' | 'PLATFORM-ADVANCED.md';

interface Citation {
  file: string;
  line: number;
  doc: Cited;
  /** One number, or both ends of a range. */
  sections: string[];
}

const NUMBER = String.raw`\d+(?:\.\d+)*`;
/** A section sign with the word right before it (the document it belongs to) and a number or range. */
const TOKEN = new RegExp(String.raw`([\w.-]*\w)?\s?${S}\s?(${NUMBER})(?:\s?[-\u2013]\s?(${NUMBER}))?`, 'g');
const COMMENT = /^\s*(?:\/\/|\/\*|\*)/;

/** The document a word before a section sign names; undefined for a plain word joining a list. */
function documentOf(name: string | undefined): Cited | 'other' | undefined {
  if (name === undefined) return undefined;
  if (/^PLATFORM(?:\.md)?$/.test(name)) return 'PLATFORM.md';
  if (/^PLATFORM-ADVANCED(?:\.md)?$/.test(name)) return 'PLATFORM-ADVANCED.md';
  // "and", "see": lower-case words continue a list; "RFC 3339", "MQTT-3.1.1" name another document.
  return /[A-Z0-9.]/.test(name) ? 'other' : undefined;
}

/**
 * The citations in a file's text. A bare section sign continues the document named before it on the
 * same line, or earlier in the same run of comment lines: "(PLATFORM.md §4) and registration (§5)".
 * Sections of other documents ("RFC 3339 §5.6") and bare ones with no document before them are not
 * citations of either platform document.
 */
function citationsIn(file: string, text: string): Citation[] {
  const found: Citation[] = [];
  let current: Cited | 'other' | undefined;
  let previousWasComment = false;
  text.split('\n').forEach((content, index) => {
    const isComment = COMMENT.test(content);
    if (!(isComment && previousWasComment)) current = undefined;
    previousWasComment = isComment;
    for (const match of content.matchAll(TOKEN)) {
      const [, name, first, last] = match;
      current = documentOf(name) ?? current;
      if (current === undefined || current === 'other' || first === undefined) continue;
      found.push({ file, line: index + 1, doc: current, sections: last === undefined ? [first] : [first, last] });
    }
  });
  return found;
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(join(root, dir))) return [];
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED.has(entry.name) || SKIPPED.has(path) ? [] : sourceFiles(path);
    return SOURCE.test(entry.name) ? [path] : [];
  });
}

const scanned = [...SCANNED_DIRS.flatMap(sourceFiles), ...SCANNED_FILES.filter((f) => existsSync(join(root, f)))].map(
  (path) => ({ file: path.split(sep).join('/'), text: readFileSync(join(root, path), 'utf8') }),
);
const citations = scanned.flatMap(({ file, text }) => citationsIn(file, text));

const docText = readFileSync(join(root, DOC), 'utf8');
const headings = [...docText.matchAll(new RegExp(String.raw`^## (${NUMBER})\. (.+)$`, 'gm'))].map((m) => ({
  number: m[1]!,
  title: m[2]!,
}));
const sections = new Set(headings.map((h) => h.number));

describe('docs/PLATFORM.md and its citations', () => {
  it('the scanner reads ranges, dotted numbers and lists continued across comment lines', () => {
    const sample = [
      `// Signing (PLATFORM.md ${S}3), the auth sign (${S}4)`,
      `// and registration (${S}5.). See RFC 3339 ${S}5.6 and ${S}2.`,
      `const x = 1; // PLATFORM.md ${S}6-7 and ${S}0.2, see (${S}10)`,
      `/** PLATFORM-ADVANCED ${S}1.3,`,
      ` * ${S}8 and PLATFORM.md${S} 3 \u2013 5 */`,
      `plain text ${S}9 without a document`,
    ].join('\n');
    const read = citationsIn('sample.ts', sample).map((c) => `${c.line} ${c.doc} ${c.sections.join('-')}`);
    assert.deepEqual(read, [
      '1 PLATFORM.md 3',
      '1 PLATFORM.md 4',
      '2 PLATFORM.md 5',
      '3 PLATFORM.md 6-7',
      '3 PLATFORM.md 0.2',
      '3 PLATFORM.md 10',
      '4 PLATFORM-ADVANCED.md 1.3',
      '5 PLATFORM-ADVANCED.md 8',
      '5 PLATFORM.md 3-5',
    ]);
  });

  it('keeps the shared numbering: sections 1-9 as in the shared PLATFORM.md, 10 the SDK rules', () => {
    const topics = [
      /^Identity/,
      /^Endpoints/,
      /^CONNECT/,
      /^HTTPS auth/,
      /^Dynamic registration/,
      /^Topics/,
      /^Alink JSON/,
      /^Mistakes/,
      /^Golden vectors/,
      /SDKs/,
    ];
    topics.forEach((topic, i) => {
      const heading = headings[i];
      assert.ok(heading, `${DOC} has fewer than ${i + 1} numbered sections`);
      assert.equal(heading.number, String(i + 1), `heading ${i + 1} of ${DOC}`);
      assert.match(heading.title, topic);
    });
    assert.equal(sections.size, headings.length, `${DOC} numbers a section twice`);
  });

  it('the golden vectors it points to are in the repository', () => {
    assert.match(docText, /test\/fixtures\/signing\.json/);
    assert.ok(existsSync(join(root, 'test', 'fixtures', 'signing.json')));
  });

  it(`every PLATFORM.md ${S}n in the code, tests and README has its section`, () => {
    const own = citations.filter((c) => c.doc === 'PLATFORM.md');
    assert.ok(own.length >= 10, `only ${own.length} citations found: is the scan looking in the right places?`);
    const problems = own.flatMap((c) =>
      c.sections
        .filter((n) => !sections.has(n))
        .map((n) => `${c.file}:${c.line}: PLATFORM.md ${S}${n} has no "## ${n}." heading in ${DOC}`),
    );
    assert.deepEqual(problems, [], `citations of missing sections:\n${problems.join('\n')}`);
  });

  it('nothing cites PLATFORM-ADVANCED.md, which is not in the repository', () => {
    const problems = citations
      .filter((c) => c.doc === 'PLATFORM-ADVANCED.md' && c.file !== SELF)
      .map((c) => `${c.file}:${c.line}: cites PLATFORM-ADVANCED.md ${S}${c.sections.join('-')}`);
    const cited = new Set(problems.map((p) => p.slice(0, p.indexOf(': '))));
    for (const { file, text } of scanned) {
      if (file === SELF) continue;
      text.split('\n').forEach((content, index) => {
        const at = `${file}:${index + 1}`;
        if (content.includes('PLATFORM-ADVANCED') && !cited.has(at)) problems.push(`${at}: names PLATFORM-ADVANCED.md`);
      });
    }
    assert.deepEqual(problems, [], `cite ${DOC} instead (the SDK rules are its ${S}10):\n${problems.join('\n')}`);
  });
});
