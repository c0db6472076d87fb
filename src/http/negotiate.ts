/**
 * Accept-Encoding -> the variant to send (RFC 9110 §12.5.3), with q-values. Browsers send a
 * handful of distinct header strings, so parses are memoised in a small bounded map and the
 * hot path pays one Map lookup.
 */
import type { Representation } from '../cache/blob.js';

interface Preference {
  readonly br: number;
  readonly gzip: number;
}

const NONE: Preference = { br: 0, gzip: 0 };
const MEMO_LIMIT = 128;
const memo = new Map<string, Preference>();

export function parseAcceptEncoding(header: string): Preference {
  let br: number | undefined;
  let gzip: number | undefined;
  let star: number | undefined;
  for (const part of header.split(',')) {
    const [rawToken, ...params] = part.split(';');
    const token = rawToken!.trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(param);
      if (m) q = Math.min(1, Number(m[1]));
    }
    if (token === 'br') br = q;
    else if (token === 'gzip' || token === 'x-gzip') gzip = q;
    else if (token === '*') star = q;
  }
  return { br: br ?? star ?? 0, gzip: gzip ?? star ?? 0 };
}

function preference(header: string | undefined): Preference {
  if (header === undefined || header === '') return NONE;
  let pref = memo.get(header);
  if (pref === undefined) {
    pref = parseAcceptEncoding(header);
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(header, pref);
  }
  return pref;
}

/**
 * The representation to send: the acceptable variant with the highest q (brotli on a tie,
 * it is smaller), else identity. `identity;q=0` is not honoured with a 406: like nginx, we
 * send identity rather than nothing.
 */
export function chooseRepresentation<R = Representation>(blob: { readonly identity: R; readonly br: R | undefined; readonly gzip: R | undefined }, acceptEncoding: string | undefined): R {
  if (blob.br === undefined && blob.gzip === undefined) return blob.identity;
  const pref = preference(acceptEncoding);
  const br = blob.br !== undefined ? pref.br : 0;
  const gzip = blob.gzip !== undefined ? pref.gzip : 0;
  if (br > 0 && br >= gzip) return blob.br!;
  if (gzip > 0) return blob.gzip!;
  return blob.identity;
}
