#!/bin/sh
# A fagsystem, as small as one can be: all a fagsystem has to do with Mottak's drop folder.
#
#   fagsystem.sh DROP_FOLDER ARCHIVE_FOLDER [REJECT_EVERY]
#
# Mottak's side of the contract: each forsendelse appears whole as DROP_FOLDER/inn/<id>/ (one
# rename, so a folder you see is complete), holding forsendelse.json (SvarInn's metadata) and
# the decrypted files; a Fiks IO message as inn/<melding-id>/ with melding.json instead.
#
# The fagsystem's side:
#   - imported:        take the folder out of inn/ (move it away, or delete it);
#   - cannot import:   move it to feilet/<id>/ and say why in feilet/<id>/feil.txt;
#   - never touch .mottak/ (the agent's own staging).
# An admin may move a failed folder back into inn/ from the console: it is then simply new again.
#
# This one "imports" by moving the folder into ARCHIVE_FOLDER, and for the demo turns down every
# REJECT_EVERY-th forsendelse it has not seen before (default 6). One it turned down earlier and
# finds in inn/ again (an admin moved it back) it imports.

set -eu

drop=$1
archive=$2
reject_every=${3:-6}

mkdir -p "$archive"
rejected_list="$archive/.avvist" # ids we have turned down once
touch "$rejected_list"
seen=0

reasons="Mangler saksnummer i metadata|Avsender finnes ikke i fagsystemets register|Dokumenttypen støttes ikke"

while :; do
    for folder in "$drop"/inn/*/; do
        # No match leaves the pattern itself; a folder without forsendelse.json (SvarInn) or
        # melding.json (Fiks IO) is not ours.
        id=$(basename "$folder")
        if [ -f "$folder/forsendelse.json" ]; then
            tittel=$(sed -n 's/.*"tittel" *: *"\([^"]*\)".*/\1/p' "$folder/forsendelse.json" | head -n 1)
        elif [ -f "$folder/melding.json" ]; then
            tittel="Fiks IO $(sed -n 's/.*"meldingType" *: *"\([^"]*\)".*/\1/p' "$folder/melding.json" | head -n 1)"
        else
            continue
        fi

        if grep -qx "$id" "$rejected_list"; then
            mv "${folder%/}" "$archive/$id"
            echo "importert (sendt tilbake av en admin): $id  $tittel"
            continue
        fi

        seen=$((seen + 1))
        if [ $((seen % reject_every)) -eq 0 ]; then
            n=$(( (seen / reject_every) % 3 + 1 ))
            reason=$(echo "$reasons" | cut -d '|' -f "$n")
            # Write the reason first, then move: the agent reads feil.txt when it sees the folder.
            mkdir -p "$drop/feilet"
            printf '%s\n' "$reason" > "$folder/feil.txt"
            mv "${folder%/}" "$drop/feilet/$id"
            echo "$id" >> "$rejected_list"
            echo "avvist: $id  $tittel: $reason"
        else
            mv "${folder%/}" "$archive/$id"
            echo "importert: $id  $tittel"
        fi
    done
    sleep 1
done
