/** Rewrites the README's options table from the option table in src/config.ts (`npm run docs`). */
import { readFile, writeFile } from 'node:fs/promises';
import { renderOptionsMarkdown } from '../src/config.js';

const path = new URL('../README.md', import.meta.url);
const readme = await readFile(path, 'utf8');
const start = '<!-- options:start -->';
const end = '<!-- options:end -->';
const from = readme.indexOf(start);
const to = readme.indexOf(end);
if (from === -1 || to === -1) throw new Error('README.md lacks the options markers');
await writeFile(path, readme.slice(0, from + start.length) + '\n' + renderOptionsMarkdown() + '\n' + readme.slice(to));
