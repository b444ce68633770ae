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
# smpp_pdu: an SMSC's answers (SMPP 3.4 §4): bind_transmitter_resp "SMSC", submit_sm_resp "m1",
# enquire_link, generic_nack with ESME_RINVCMDID.
mkdir -p corpus/smpp_pdu
printf '\000\000\000\025\200\000\000\002\000\000\000\000\000\000\000\001SMSC\000' > corpus/smpp_pdu/bind_resp
printf '\000\000\000\023\200\000\000\004\000\000\000\000\000\000\000\002m1\000' > corpus/smpp_pdu/submit_resp
printf '\000\000\000\020\000\000\000\025\000\000\000\000\000\000\000\003' > corpus/smpp_pdu/enquire_link
printf '\000\000\000\020\200\000\000\000\000\000\000\003\000\000\000\004' > corpus/smpp_pdu/generic_nack
# pap_answer: a PAP push-response as Kannel sends it, and a badmessage-response.
mkdir -p corpus/pap_answer
printf '%s' '<?xml version="1.0"?><!DOCTYPE pap PUBLIC "-//WAPFORUM//DTD PAP 1.0//EN" "http://www.wapforum.org/DTD/pap_1.0.dtd"><pap><push-response push-id="omadm-1" sender-address="http://127.0.0.1:13080/wappush" sender-name="WAP/1.3 Kannel" reply-time="2026-11-22T23:00:00Z"><response-result code="1001" desc="The request has been accepted for processing"/></push-response></pap>' > corpus/pap_answer/accepted
printf '%s' '<?xml version="1.0"?><pap><badmessage-response code="2000" desc="Not understood due to malformed syntax" bad-message-fragment="x"/></pap>' > corpus/pap_answer/badmessage
echo "seeded: $(ls corpus | tr '\n' ' ')"
