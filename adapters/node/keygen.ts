// `edgegate keygen`: prints a fresh signing key pair as a ready-to-paste session.keys entry, plus PEMs.
import { parseArgs } from 'node:util';
import { keygen } from '../../src/session/keys.ts';
import { ALGORITHMS, type Algorithm } from '../../src/session/schema.ts';

const USAGE = `Usage: edgegate keygen [--alg ES256|RS256|PS256|EdDSA] [--kid ID]
Prints a session.keys entry (JWK private key, to keep secret), the public JWK, and both PEMs.
The kid defaults to the RFC 7638 thumbprint of the public key.
`;

export async function runKeygen(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  let values: { alg?: string; kid?: string; help?: boolean };
  try {
    // The CLI hands over the whole argv after "keygen"; options of other commands are not ours.
    ({ values } = parseArgs({
      args: argv,
      strict: false,
      options: { alg: { type: 'string' }, kid: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }) as { values: typeof values });
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    out(USAGE);
    return 0;
  }
  const alg = (typeof values.alg === 'string' ? values.alg : 'ES256') as Algorithm;
  if (!ALGORITHMS.includes(alg)) {
    err(`--alg: expected one of ${ALGORITHMS.join(', ')}, received ${JSON.stringify(values.alg)}\n${USAGE}`);
    return 2;
  }
  if (values.kid !== undefined && (typeof values.kid !== 'string' || !/^[\x21-\x7e]+$/.test(values.kid))) {
    err('--kid: expected visible ASCII characters\n');
    return 2;
  }
  const key = await keygen(alg, values.kid);
  const entry = { kid: key.kid, alg: key.alg, privateKey: key.privateJwk, active: true };
  out(`# session.keys entry (contains the PRIVATE key: keep it in a secret, not in git)\n${JSON.stringify(entry, null, 2)}\n\n`);
  out(`# public JWK (safe to share; served at session.jwks.path)\n${JSON.stringify(key.publicJwk, null, 2)}\n\n`);
  out(`# private key, PKCS#8 PEM (alternative to the JWK above)\n${key.privateKeyPem.trimEnd()}\n\n`);
  out(`# public key, SPKI PEM\n${key.publicKeyPem.trimEnd()}\n`);
  return 0;
}
