#!/bin/sh
# The fagsystem's answer to NAV digital søknad, as small as one can be: all a fagsystem has to do
# to send saksoppdateringer to Fiks Digisos through Mottak's drop folder (docs/drop-folder.md, "Out").
#
#   fagsystem-ut.sh DROP_FOLDER ARCHIVE_FOLDER [BAD_EVERY] [SECONDS]
#
# ARCHIVE_FOLDER is where fagsystem.sh puts what it imports. A søknad (forsendelseType nav.digisos)
# there holds forsendelseMetadata.json with the case's digisosId (one by Fiks IO, melding.json
# with meldingType no.nav.digisos.soknad.v1). Every SECONDS (default 2) this
# script takes each such case one step further, one update per step:
#   1. soknadsStatus MOTTATT
#   2. saksStatus and soknadsStatus UNDER_BEHANDLING
#   3. vedtakFattet with the vedtak as a PDF (fil:vedtak.pdf), and soknadsStatus FERDIGBEHANDLET
# Each update carries the case's whole history, as NAV's format wants (the hendelser are NAV's
# examples, protocol/tests/data/digisos-filformat/.../soker/minimal.json and parts/hendelse/).
#
# Mottak's side of the contract:
#   - the agent takes DROP_FOLDER/ut/<digisosId>/ once it holds KLAR (a rename: it disappears);
#   - what became of it: ut-sendt/<digisosId>-<time>/ with kvittering.json ("status": "sendt"),
#     or ut-feilet/<digisosId>-<time>/ with feil.txt (every problem found, or Fiks's answer).
# The fagsystem's side:
#   - write ut/<digisosId>/digisos-soker.json and every file it names with fil:, then KLAR, last;
#   - while ut/<digisosId>/ is still there, do not write that name again: wait;
#   - never write into ut-sendt/, ut-feilet/ or .mottak/.
#
# This one waits for the outcome of a case's update before it writes the next. For the demo, every
# BAD_EVERY-th update it writes (default 5) is wrong on purpose: a status NAV's schema does not know,
# or a vedtak.pdf it forgets to write. When such a one lands in ut-feilet/, it writes it again,
# right. One that Fiks refused (our document was fine) waits until an admin retries it from the
# console and it lands in ut-sendt/.
#
# After each round it writes how many rounds it has done to ARCHIVE_FOLDER/.saker/rounds, so a
# test can wait for rounds that would have written something instead of for a time.

set -eu

drop=$1
archive=$2
bad_every=${3:-5}
seconds=${4:-2}

saker="$archive/.saker" # per case: hendelser sent so far, the update waiting for its outcome
mkdir -p "$saker"
written=0
rounds=0

now() { date -u +%Y-%m-%dT%H:%M:%S.000Z; }

# The hendelser step $1 adds (one JSON object a line); $2 = "wrong" for the broken version.
hendelser_for_step() {
    t=$(now)
    case $1 in
    0)
        status=MOTTATT
        [ "$2" = wrong ] && status=Mottatt # the schema's enum is upper case
        echo "{\"type\": \"soknadsStatus\", \"hendelsestidspunkt\": \"$t\", \"status\": \"$status\"}"
        ;;
    1)
        status=UNDER_BEHANDLING
        [ "$2" = wrong ] && status=UNDER_BEHANDLNG
        echo "{\"type\": \"saksStatus\", \"hendelsestidspunkt\": \"$t\", \"referanse\": \"SAK1\", \"tittel\": \"Livsopphold\", \"status\": \"UNDER_BEHANDLING\"}"
        echo "{\"type\": \"soknadsStatus\", \"hendelsestidspunkt\": \"$t\", \"status\": \"$status\"}"
        ;;
    2)
        echo "{\"type\": \"vedtakFattet\", \"hendelsestidspunkt\": \"$t\", \"saksreferanse\": \"SAK1\", \"utfall\": \"INNVILGET\", \"vedtaksfil\": {\"referanse\": {\"type\": \"dokumentlager\", \"id\": \"fil:vedtak.pdf\"}}, \"vedlegg\": []}"
        echo "{\"type\": \"soknadsStatus\", \"hendelsestidspunkt\": \"$t\", \"status\": \"FERDIGBEHANDLET\"}"
        ;;
    esac
}

# A one-page PDF saying what was decided.
write_vedtak_pdf() {
    text="BT /F1 16 Tf 72 760 Td (Vedtak om \\370konomisk sosialhjelp) Tj 0 -28 Td /F1 11 Tf (Sak $2: innvilget.) Tj ET"
    {
        echo '%PDF-1.4'
        echo '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj'
        echo '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj'
        echo '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >> endobj'
        echo "4 0 obj << /Length ${#text} >> stream"
        echo "$text"
        echo 'endstream endobj'
        echo '5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >> endobj'
        echo 'trailer << /Root 1 0 R >>'
        echo '%%EOF'
    } > "$1"
}

while :; do
    for meta in "$archive"/*/forsendelseMetadata.json "$archive"/*/melding.json; do
        [ -f "$meta" ] || continue # no match leaves the pattern itself
        case $meta in
        */melding.json) grep -q '"meldingType" *: *"no.nav.digisos.soknad.v1"' "$meta" || continue ;;
        esac
        id=$(sed -n 's/.*"digisosId" *: *"\([^"]*\)".*/\1/p' "$meta" | head -n 1)
        [ -n "$id" ] || continue
        sak="$saker/$id"
        mkdir -p "$sak"
        touch "$sak/sent" "$sak/seen"
        [ -f "$sak/step" ] || echo 0 > "$sak/step"

        # Not taken by the agent yet: wait.
        [ -e "$drop/ut/$id" ] && continue

        # Outcomes we have not read yet. feil.txt lists each problem on a line of its own
        # starting with "- ".
        for result in "$drop"/ut-sendt/"$id"-* "$drop"/ut-feilet/"$id"-*; do
            [ -d "$result" ] || continue
            name=${result#"$drop"/}
            grep -qxF "$name" "$sak/seen" && continue
            echo "$name" >> "$sak/seen"
            if [ -f "$result/kvittering.json" ]; then
                if [ -f "$sak/waiting" ] && grep -q '"status": *"sendt"' "$result/kvittering.json"; then
                    cat "$sak/waiting" >> "$sak/sent"
                    echo $(($(cat "$sak/step") + 1)) > "$sak/step"
                    rm -f "$sak/waiting" "$sak/wrong"
                    echo "sendt til Fiks: $name"
                fi
                continue
            fi
            problem=$(sed -n 's/^- //p' "$result/feil.txt" | head -n 1)
            if [ -f "$sak/wrong" ]; then
                echo "feilet (vår feil, skriver den riktig på nytt): $name: $problem"
                rm -f "$sak/waiting" "$sak/wrong"
            else
                echo "feilet (venter på at en admin sender den på nytt): $name: $problem"
            fi
        done
        [ -f "$sak/waiting" ] && continue

        step=$(cat "$sak/step") # updates Fiks has accepted
        [ "$step" -lt 3 ] || continue # this case is done

        written=$((written + 1))
        how=right
        [ $((written % bad_every)) -eq 0 ] && how=wrong
        hendelser_for_step "$step" right > "$sak/waiting"

        out="$drop/ut/$id"
        mkdir -p "$out"
        {
            echo '{'
            echo '  "version": "1.0.0",'
            echo '  "avsender": {"systemnavn": "fagsystem-ut.sh", "systemversjon": "1.0.0"},'
            echo '  "hendelser": ['
            if [ $how = wrong ]; then
                cat "$sak/sent"
                hendelser_for_step "$step" wrong
            else
                cat "$sak/sent" "$sak/waiting"
            fi | sed -e 's/^/    /' -e '$!s/$/,/'
            echo '  ]'
            echo '}'
        } > "$out/digisos-soker.json"
        # The wrong version of step 3 is right JSON without its vedtak.pdf.
        if [ "$step" -eq 2 ] && [ $how = right ]; then
            write_vedtak_pdf "$out/vedtak.pdf" "$id"
        fi
        [ $how = wrong ] && touch "$sak/wrong"
        : > "$out/KLAR" # last: now the agent may take it
        echo "skrev steg $((step + 1)) av 3 for $id$([ $how = wrong ] && echo ' (med vilje feil)' || true)"
    done
    rounds=$((rounds + 1))
    echo "$rounds" > "$saker/rounds.tmp" && mv "$saker/rounds.tmp" "$saker/rounds"
    sleep "$seconds"
done
