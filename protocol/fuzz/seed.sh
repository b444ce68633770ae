#!/bin/sh
# Seed the fuzz corpora from the test vectors. Corpora are not committed (see .gitignore).
# Run from protocol/fuzz: ./seed.sh
set -eu
cd "$(dirname "$0")"
vectors=../tests/vectors
for target in decode_xml decode_wbxml decode_any; do
    mkdir -p "corpus/$target"
    for f in "$vectors"/*.xml "$vectors"/*.wbxml "$vectors"/*.bin; do
        cp "$f" "corpus/$target/"
    done
    # Inputs saved from earlier fuzz findings, if any.
    if [ -d "$vectors/fuzz" ]; then
        find "$vectors/fuzz" -type f -exec cp {} "corpus/$target/" \;
    fi
done
# hmac_header: the x-syncml-hmac values of the captured requests, plus a few variants.
mkdir -p corpus/hmac_header
i=0
grep -ih '^x-syncml-hmac:' "$vectors"/*.headers.txt | sed 's/^[^:]*: *//' | tr -d '\r' | while IFS= read -r value; do
    i=$((i + 1))
    printf '%s' "$value" > "corpus/hmac_header/capture-$i"
done
printf '%s' 'algorithm=MD5, username="devuser", mac=LFZ/RHcksnmw4PDXjSZ+tA==' > corpus/hmac_header/basic
printf '%s' 'username="a\"b\\c",mac=AAAA' > corpus/hmac_header/escaped
printf '%s' 'mac=LFZ/RHcksnmw4PDXjSZ+tA==, username=devuser' > corpus/hmac_header/unquoted
echo "seeded: $(ls corpus | tr '\n' ' ')"
