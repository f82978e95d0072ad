// Independent check of agentid's compact JWS with the `jose` npm package.
//   node jose.mjs verify <public JWK JSON> <typ> <compact JWS>  -> prints the payload JSON
//   node jose.mjs sign   <private JWK JSON> <typ> <kid> <payload JSON> -> prints a compact JWS
import { compactVerify, CompactSign, importJWK } from 'jose';

const [mode, jwkJson, typ, ...rest] = process.argv.slice(2);
const jwk = JSON.parse(jwkJson);
try {
  if (mode === 'verify') {
    const key = await importJWK(jwk, 'EdDSA');
    const { payload, protectedHeader } = await compactVerify(rest[0], key, { algorithms: ['EdDSA'] });
    if (protectedHeader.typ !== typ) throw new Error(`typ ${protectedHeader.typ} != ${typ}`);
    process.stdout.write(new TextDecoder().decode(payload));
  } else if (mode === 'sign') {
    const [kid, payload] = rest;
    const key = await importJWK(jwk, 'EdDSA');
    const jws = await new CompactSign(new TextEncoder().encode(payload))
      .setProtectedHeader({ alg: 'EdDSA', typ, kid })
      .sign(key);
    process.stdout.write(jws);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (e) {
  process.stderr.write(`jose: ${e.message}\n`);
  process.exit(1);
}
