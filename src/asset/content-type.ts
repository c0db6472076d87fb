/**
 * Content-Type of an asset: from its extension (mime-types, with charset for text), else the
 * origin's stored type if it is a well-formed media type, else application/octet-stream.
 * Origin metadata is untrusted: a value with CR/LF or other junk never reaches a header.
 */
import mime from 'mime-types';

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(?:\s*;\s*[a-z0-9_-]{1,32}=(?:[a-z0-9_.+-]{1,64}|"[a-z0-9_.+ -]{0,64}"))*$/i;

export function contentTypeFor(key: string, originType: string | undefined): string {
  const byExtension = mime.contentType(key.slice(key.lastIndexOf('/') + 1));
  if (byExtension) return byExtension;
  if (originType !== undefined && MEDIA_TYPE.test(originType)) return originType;
  return 'application/octet-stream';
}
