// RSA keys in PKCS#1 PEM ("BEGIN RSA PRIVATE KEY", what `openssl genrsa` and many Node projects ship)
// rewrapped as PKCS#8 / SPKI, which Web Crypto imports. Pure DER framing, no key material is parsed.

/** rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters: the AlgorithmIdentifier of an RSA key. */
const RSA_ALGORITHM = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function der(tag: number, content: Uint8Array): Uint8Array {
  const head = [tag, ...derLength(content.length)];
  const out = new Uint8Array(head.length + content.length);
  out.set(head, 0);
  out.set(content, head.length);
  return out;
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pemBody(pem: string, label: string): Uint8Array | undefined {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  if (m === null) return undefined;
  try {
    const bin = atob(m[1].replace(/\s+/g, ''));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

function toPem(bytes: Uint8Array, label: string): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  const b64 = btoa(bin);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A PKCS#1 RSA private key as PKCS#8 (RFC 5208 PrivateKeyInfo); any other text is returned as is. */
export function privateKeyToPkcs8(pem: string): string {
  const pkcs1 = pemBody(pem, 'RSA PRIVATE KEY');
  if (pkcs1 === undefined) return pem;
  const info = concat([0x02, 0x01, 0x00], RSA_ALGORITHM, der(0x04, pkcs1));
  return toPem(der(0x30, info), 'PRIVATE KEY');
}

/** A PKCS#1 RSA public key as SPKI (RFC 5280 SubjectPublicKeyInfo); any other text is returned as is. */
export function publicKeyToSpki(pem: string): string {
  const pkcs1 = pemBody(pem, 'RSA PUBLIC KEY');
  if (pkcs1 === undefined) return pem;
  const info = concat(RSA_ALGORITHM, der(0x03, concat([0x00], pkcs1)));
  return toPem(der(0x30, info), 'PUBLIC KEY');
}
