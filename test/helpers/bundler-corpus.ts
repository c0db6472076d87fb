/**
 * The bundler corpus (test/fixtures/bundlers/, made by scripts/bundler-corpus/): what 12 real
 * bundler set-ups emitted, each file labelled by its bundler's own word on whether its name is
 * content-hashed. Shared by the tests that serve it from a directory and from S3.
 */
import { readdir, readFile } from 'node:fs/promises';
import { writeFiles } from './temp-dir.js';

export interface Corpus {
  setup: string;
  tools: Record<string, string>;
  files: Array<{ path: string; hashed: boolean; why: string }>;
  /** Verbatim text of the build manifests a server reads (`.vite/manifest.json`). */
  evidence?: Record<string, string>;
}

const FIXTURES = new URL('../fixtures/bundlers/', import.meta.url);

/** Every corpus, by setup name. */
export async function loadCorpora(): Promise<Corpus[]> {
  const names = (await readdir(FIXTURES)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(names.map(async (name) => JSON.parse(await readFile(new URL(name, FIXTURES), 'utf8')) as Corpus));
}

/** Writes a corpus as a build directory: stand-in bodies (the path as text), manifests verbatim. */
export function writeBuild(corpus: Corpus, dir: string): Promise<void> {
  return writeFiles(dir, corpus.files.map((file) => [file.path, corpus.evidence?.[file.path] ?? `/* ${file.path} */\n`] as const));
}

/** A path a client can ask for (dotfolders like .vite/ are never served, by design). */
export const requestable = (path: string): boolean => !path.split('/').some((segment) => segment.startsWith('.'));
