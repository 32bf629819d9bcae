#!/bin/sh
# What kommuner run today, one forsendelse at a time: curl the list, curl each file,
# `openssl cms -decrypt`, check the sha256, `mv` into the folder, curl the acknowledgement;
# the list again until it is empty. The inbound_drain bench runs it against its fake SvarInn
# (on the same simulated link as the agent) to measure the agent against it.
#
# Environment: SVARINN_URL (the base, without /tjenester), SVARINN_USER, SVARINN_PASSWORD,
# KEY (the private key, PEM), DEST (the folder to deliver into), WORK (a scratch folder).
# Needs curl, jq, openssl, sha256sum.
set -eu
: "${SVARINN_URL:?}" "${SVARINN_USER:?}" "${SVARINN_PASSWORD:?}" "${KEY:?}" "${DEST:?}" "${WORK:?}"
auth="$SVARINN_USER:$SVARINN_PASSWORD"
tab=$(printf '\t')
delivered=0
while :; do
    curl -sSf -u "$auth" -o "$WORK/list.json" "$SVARINN_URL/tjenester/svarinn/mottaker/hentNyeForsendelser"
    [ "$(jq length "$WORK/list.json")" -gt 0 ] || break
    jq -r '.[] | [.id, .downloadUrl, .filmetadata[0].sha256hash, .filmetadata[0].filnavn] | @tsv' \
        "$WORK/list.json" >"$WORK/items.tsv"
    while IFS="$tab" read -r id url sha name; do
        curl -sSf -u "$auth" -o "$WORK/$id.crypt" "$url"
        openssl cms -decrypt -inform DER -in "$WORK/$id.crypt" -inkey "$KEY" -out "$WORK/$id.bin"
        got=$(sha256sum "$WORK/$id.bin" | cut -d' ' -f1)
        if [ "$got" != "$sha" ]; then
            echo "script_peer: $id: sha256 $got, listed $sha" >&2
            exit 1
        fi
        mkdir "$WORK/$id"
        mv "$WORK/$id.bin" "$WORK/$id/$name"
        mv "$WORK/$id" "$DEST/$id"
        rm "$WORK/$id.crypt"
        curl -sSf -u "$auth" -X POST -o /dev/null "$SVARINN_URL/tjenester/svarinn/kvitterMottak/forsendelse/$id"
        delivered=$((delivered + 1))
    done <"$WORK/items.tsv"
done
echo "script_peer: delivered $delivered"
