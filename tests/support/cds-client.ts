/**
 * A CDS client (an EHR) for tests: a real key pair and real signed JWTs, as CDS Hooks 2.0 "Trusting
 * CDS Clients" says (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients).
 *
 * ```ts
 * const ehr = await createCdsClient({ iss: 'https://ehr.example', alg: 'ES384' });
 * settings.cdsClients = [{ iss: ehr.iss, jwks: ehr.jwks }];
 * const token = await ehr.sign({ aud: `${publicBaseUrl}/cds-services/hs-troponin-chest-pain` });
 * ```
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTHeaderParameters } from 'jose';

export type CdsClientAlg = 'RS384' | 'ES384';

export interface SignOptions {
  /** The exact URL of the endpoint called (string or array). */
  readonly aud: string | readonly string[];
  /** Default: a random UUID. */
  readonly jti?: string;
  /** Epoch seconds (fractions allowed). Default: now. */
  readonly iat?: number;
  /** Epoch seconds. Default: iat + 300. */
  readonly exp?: number;
  /** More claims (e.g. `tenant`), or overrides of `iss`. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Claims to leave out of the payload, for negative tests. */
  readonly omit?: readonly ('iat' | 'exp' | 'jti' | 'iss')[];
  /** Protected-header overrides (e.g. `jku`, `typ`, `kid`); `undefined` removes a member. */
  readonly header?: Readonly<Partial<Record<keyof JWTHeaderParameters, unknown>>>;
}

export interface CdsTestClient {
  readonly iss: string;
  readonly alg: CdsClientAlg;
  readonly kid: string;
  /** The public JWKS to put in `cdsClients[].jwks` or to serve at a `jwksUrl`. */
  readonly jwks: { keys: JWK[] };
  /** The public JWK alone (to build a JWKS holding several clients' or rotated keys). */
  readonly publicJwk: JWK;
  /** Signs a CDS client JWT (`typ: JWT`, `kid`, `alg`) with the private key. */
  sign(opts: SignOptions): Promise<string>;
}

/**
 * Creates a test CDS client with a fresh key pair.
 *
 * @param opts.iss - The client's issuer.
 * @param opts.alg - `RS384` or `ES384` (the algorithms CDS Hooks 2.0 recommends).
 * @param opts.kid - Default: a random UUID.
 * @param opts.now - The clock for default `iat` (default: the real clock).
 */
export async function createCdsClient(opts: { iss: string; alg: CdsClientAlg; kid?: string; now?: () => Date }): Promise<CdsTestClient> {
  const { iss, alg } = opts;
  const kid = opts.kid ?? randomUUID();
  const now = opts.now ?? (() => new Date());
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };

  return {
    iss,
    alg,
    kid,
    publicJwk,
    jwks: { keys: [publicJwk] },
    async sign(o) {
      const iat = o.iat ?? Math.floor(now().getTime() / 1000);
      const omit = new Set(o.omit ?? []);
      const payload: Record<string, unknown> = {
        iss,
        aud: typeof o.aud === 'string' ? o.aud : [...o.aud],
        iat,
        exp: o.exp ?? Math.floor(iat) + 300,
        jti: o.jti ?? randomUUID(),
        ...o.claims,
      };
      for (const k of omit) delete payload[k];
      const header: Record<string, unknown> = { alg, kid, typ: 'JWT', ...o.header };
      for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
      return new SignJWT(payload).setProtectedHeader(header as unknown as JWTHeaderParameters).sign(privateKey);
    },
  };
}
