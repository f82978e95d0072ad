"""Independent checks with jwcrypto and jsonschema.

    python3 jwcrypto_check.py jws <public JWK JSON> <typ> <schema file> <compact JWS>
        verifies the JWS (EdDSA) and validates its payload against the schema; prints the payload
    python3 jwcrypto_check.py schema <schema file> <JSON document>
        validates a JSON document against a schema
"""
import json
import sys

import jsonschema
from jwcrypto import jwk, jws


def validate(schema_path, document):
    with open(schema_path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)


mode = sys.argv[1]
if mode == "jws":
    key_json, typ, schema_path, token = sys.argv[2:6]
    key = jwk.JWK(**json.loads(key_json))
    obj = jws.JWS()
    obj.deserialize(token)
    obj.verify(key, alg="EdDSA")
    if obj.jose_header.get("typ") != typ:
        sys.exit(f"typ {obj.jose_header.get('typ')} != {typ}")
    payload = json.loads(obj.payload)
    validate(schema_path, payload)
    print(json.dumps(payload))
elif mode == "schema":
    schema_path, document = sys.argv[2:4]
    validate(schema_path, json.loads(document))
    print("valid")
else:
    sys.exit(f"unknown mode {mode}")
