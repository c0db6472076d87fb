/**
 * Is a key immutable (served `Cache-Control: public, max-age=31536000, immutable`), and why?
 * A file name alone cannot always tell a hash from a word, so the answer comes from the best
 * evidence there is, in this order (the first that speaks decides):
 *
 *  1. the operator's rules: `--mutable <glob>`, then `--immutable <glob>`;
 *  2. page files, never immutable: HTML, robots.txt, favicon.ico, service workers, web app
 *     manifests, version.json, Next.js's `__next.*` payloads (see PAGE_FILES);
 *  3. framework presets (--presets): folders their framework documents as immutable;
 *  4. build manifests at the origin's root (manifest-evidence.ts): hashedge upload's
 *     manifest.json and Vite's .vite/manifest.json;
 *  5. the origin's own word: a Cache-Control stored with the object (S3 metadata, as
 *     `hashedge upload` and `aws s3 sync --cache-control` set it) with `immutable` or a
 *     max-age of a year or more. Known only once the object is fetched (see `withOrigin`);
 *  6. a content hash in the file name (hashed-name.ts).
 * With none of them, a key is not immutable: without --allow-unhashed it is refused with 404
 * E_NOT_HASHED, whose message names the flag that would serve it.
 */
import picomatch from 'picomatch';
import { findNameHash } from './hashed-name.js';

export interface Verdict {
  readonly immutable: boolean;
  /** Why, for people: `name: base64url hash BwT4yKxK`, `preset nextjs: _next/static/`, ... */
  readonly reason: string;
  /** No evidence either way yet: the origin's Cache-Control may still make it immutable. */
  readonly open: boolean;
}

/** A framework whose build output folder is immutable by the framework's own documentation. */
export interface Preset {
  readonly name: PresetName;
  /** Globs (picomatch, against the key) of the immutable folder... */
  readonly immutable: readonly string[];
  /** ...less these (files the framework rewrites under the same name). */
  readonly except: readonly string[];
  /** Where the framework says so (for the README). */
  readonly source: string;
}

export type PresetName = 'nextjs' | 'sveltekit' | 'astro' | 'nuxt' | 'vite';

export const PRESETS: readonly Preset[] = [
  { name: 'nextjs', immutable: ['_next/static/**', '**/_next/static/**'], except: [], source: 'https://nextjs.org/docs/app/api-reference/config/next-config-js/headers#cache-control' },
  { name: 'sveltekit', immutable: ['_app/immutable/**', '**/_app/immutable/**'], except: [], source: 'https://svelte.dev/docs/kit/configuration#appDir' },
  { name: 'astro', immutable: ['_astro/**', '**/_astro/**'], except: [], source: 'https://docs.astro.build/en/reference/configuration-reference/#buildassets' },
  // Nuxt rewrites builds/latest.json on every deploy (nitro serves builds/ with max-age=1);
  // builds/meta/<build id>.json, one folder down, is immutable again.
  { name: 'nuxt', immutable: ['_nuxt/**', '**/_nuxt/**'], except: ['_nuxt/builds/*', '**/_nuxt/builds/*'], source: 'https://nuxt.com/docs/api/nuxt-config#buildassetsdir' },
  // Off by default: Vite copies public/ as it is, so a public/assets/ file would share the folder.
  { name: 'vite', immutable: ['assets/**'], except: [], source: 'https://vite.dev/config/build-options#build-assetsdir' },
];

/** On unless --presets says otherwise: each folder is immutable by its framework's word alone. */
export const DEFAULT_PRESETS: readonly PresetName[] = ['nextjs', 'sveltekit', 'astro', 'nuxt'];

/**
 * Files a site rewrites under the same name at every deploy: never immutable, whatever a
 * preset, manifest, the origin's Cache-Control or the name says (only --immutable wins).
 */
const PAGE_FILES: ReadonlyArray<readonly [glob: string, what: string]> = [
  ['**/*.{html,htm,xhtml}', 'an HTML page'],
  ['**/{robots.txt,humans.txt,ads.txt,app-ads.txt,security.txt}', 'a site file'],
  ['**/sitemap*.xml', 'a sitemap'],
  ['**/favicon.ico', 'the favicon'],
  ['**/{sw,service-worker,serviceworker,firebase-messaging-sw,registerSW}.js', 'a service worker'],
  ['**/{manifest.json,*.webmanifest,browserconfig.xml}', 'a web app manifest'],
  ['**/version.json', 'a version file'],
  ['**/__next.*', 'a Next.js page payload'],
];

export interface ImmutabilityOptions {
  /** Globs whose keys are immutable (--immutable). @default [] */
  readonly immutable?: readonly string[];
  /** Globs whose keys are never immutable (--mutable); wins over everything. @default [] */
  readonly mutable?: readonly string[];
  /** Framework folders taken as immutable. @default DEFAULT_PRESETS */
  readonly presets?: readonly PresetName[];
  /** What build manifests at the origin say (manifest-evidence.ts); none: no manifests. */
  readonly manifests?: ManifestLookup;
  /** Keys that are not immutable are served too, briefly (--allow-unhashed). @default false */
  readonly allowUnhashed?: boolean;
  /** Whether the origin stores a Cache-Control per object (S3), which may still vouch for a key. @default false */
  readonly originStoresCacheControl?: boolean;
}

/** The manifests' word on a key: the manifest that lists it as immutable, if any. */
export interface ManifestLookup {
  listing(key: string): string | undefined;
}

type Matcher = (key: string) => boolean;

interface Rule {
  readonly glob: string;
  readonly matches: Matcher;
}

const MATCH_OPTIONS = { dot: true } as const;

function rules(globs: readonly string[]): Rule[] {
  return globs.map((glob) => ({ glob, matches: picomatch(glob.replace(/^\/+/, ''), MATCH_OPTIONS) }));
}

/** The max-age that counts as the origin saying "cache it for good". */
const A_YEAR_S = 31_536_000;

/** Whether a stored Cache-Control says the object never changes: `immutable`, or max-age >= a year. */
export function cacheControlSaysImmutable(cacheControl: string | undefined): boolean {
  if (cacheControl === undefined) return false;
  const directives = cacheControl.toLowerCase().split(',').map((d) => d.trim());
  if (directives.some((d) => d === 'no-cache' || d === 'no-store' || d === 'private')) return false;
  if (directives.includes('immutable')) return true;
  const maxAge = directives.find((d) => d.startsWith('max-age='));
  return maxAge !== undefined && /^max-age=\d+$/.test(maxAge) && Number(maxAge.slice(8)) >= A_YEAR_S;
}

/** The verdict once the origin's stored Cache-Control is known (step 5): it can only add evidence. */
export function withOriginWord(verdict: Verdict, cacheControl: string | undefined): Verdict {
  if (!verdict.open || !cacheControlSaysImmutable(cacheControl)) return verdict;
  return { immutable: true, reason: `origin Cache-Control: ${cacheControl}`, open: false };
}

/** Comma-separated globs; a comma inside braces (`*.{js,css}`) stays in its glob. */
export function splitGlobs(text: string): string[] {
  const globs: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}') depth = Math.max(0, depth - 1);
    else if (i === text.length || (c === ',' && depth === 0)) {
      const glob = text.slice(start, i).trim();
      if (glob !== '') globs.push(glob);
      start = i + 1;
    }
  }
  return globs;
}

export class ImmutabilityPolicy {
  readonly #mutable: Rule[];
  readonly #immutable: Rule[];
  readonly #pages: ReadonlyArray<{ matches: Matcher; what: string }>;
  readonly #presets: ReadonlyArray<{ preset: Preset; matches: Matcher; except: Matcher }>;
  readonly #manifests: ManifestLookup | undefined;
  readonly #allowUnhashed: boolean;
  readonly #originSpeaks: boolean;

  constructor(options: ImmutabilityOptions = {}) {
    this.#mutable = rules(options.mutable ?? []);
    this.#immutable = rules(options.immutable ?? []);
    this.#pages = PAGE_FILES.map(([glob, what]) => ({ matches: picomatch(glob, MATCH_OPTIONS), what }));
    const names = new Set(options.presets ?? DEFAULT_PRESETS);
    this.#presets = PRESETS.filter((p) => names.has(p.name)).map((preset) => ({
      preset,
      matches: picomatch([...preset.immutable], MATCH_OPTIONS),
      except: preset.except.length > 0 ? picomatch([...preset.except], MATCH_OPTIONS) : () => false,
    }));
    this.#manifests = options.manifests;
    this.#allowUnhashed = options.allowUnhashed ?? false;
    this.#originSpeaks = options.originStoresCacheControl ?? false;
  }

  /**
   * Whether a key with this verdict is refused (404 E_NOT_HASHED) before the origin is asked:
   * it is not immutable, --allow-unhashed is off, and the origin cannot vouch for it either.
   */
  refusesBeforeFetch(verdict: Verdict): boolean {
    return !verdict.immutable && !this.#allowUnhashed && (!verdict.open || !this.#originSpeaks);
  }

  /** The verdict from what is known before the object is fetched (steps 1-4 and 6). */
  decide(key: string): Verdict {
    for (const rule of this.#mutable) {
      if (rule.matches(key)) return { immutable: false, reason: `rule --mutable ${rule.glob}`, open: false };
    }
    for (const rule of this.#immutable) {
      if (rule.matches(key)) return { immutable: true, reason: `rule --immutable ${rule.glob}`, open: false };
    }
    for (const page of this.#pages) {
      if (page.matches(key)) return { immutable: false, reason: `page file: ${page.what}, never immutable`, open: false };
    }
    for (const { preset, matches, except } of this.#presets) {
      if (matches(key) && !except(key)) {
        return { immutable: true, reason: `preset ${preset.name}: ${preset.immutable[0]}`, open: false };
      }
    }
    const manifest = this.#manifests?.listing(key);
    if (manifest !== undefined) return { immutable: true, reason: `manifest ${manifest}`, open: false };
    const hash = findNameHash(key.slice(key.lastIndexOf('/') + 1));
    if (hash !== undefined) return { immutable: true, reason: `name: ${hash.format} hash ${hash.token}`, open: false };
    return { immutable: false, reason: 'no evidence: no content hash in the name, and no rule, preset or manifest names it', open: true };
  }

  /** What an operator could do to have key served, for the 404 E_NOT_HASHED message. */
  hint(key: string, verdict: Verdict): string {
    const dir = key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : '';
    const serveShort = 'run the edge with --allow-unhashed to serve it with a short max-age';
    if (!verdict.open) return `It is not immutable (${verdict.reason}); ${serveShort}.`;
    return `It is not known to be immutable (${verdict.reason}). If it is content-hashed, run the edge with --immutable '${dir}**' (every file there never changes), upload it with Cache-Control: immutable, or list it in the origin's manifest; else ${serveShort}.`;
  }
}

