//! The SvarInn forsendelse model against JSON shaped like KS's own examples (KS-REST, KS-OAS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mottak_protocol::svarinn::{
    DigisosForsendelseMetadata, Forsendelse, MAX_PAGE, MottakFeilet, SvarInnDate, parse_list,
    parse_list_lenient,
};
use time::macros::{date, datetime};

/// The KS-REST example (`mottaksservice-REST.md`), comments removed: ISO `dokumentetsDato`,
/// status "Akseptert", nulls in many places, `fnr` in the address.
const KS_REST_EXAMPLE: &str = r#"{
  "avsender": {
    "adresselinje1": "Første adresselinje",
    "adresselinje2": "Andre adresselinje",
    "adresselinje3": "Tredje adresselinje",
    "navn": "Tester testmann",
    "poststed": "Teststad",
    "postnr": "3333"
  },
  "mottaker": {
    "adresse1": "Første adresselinje",
    "adresse2": "Andre adresselinje",
    "adresse3": null,
    "postnr": "5258",
    "poststed": "Blomsterdalen",
    "navn": "Orgnavn",
    "land": "Norge",
    "orgnr": "999888777",
    "fnr": null
  },
  "id": "6f3c1a52-2d0e-4a8e-9a4e-0c2f4a1b7d10",
  "tittel": "En tittel",
  "date": 1412668736853,
  "metadataFraAvleverendeSystem": {
    "sakssekvensnummer": 0,
    "saksaar": 0,
    "journalaar": 0,
    "journalsekvensnummer": 0,
    "journalpostnummer": 0,
    "journalposttype": "U",
    "journalstatus": null,
    "journaldato": null,
    "dokumentetsDato": null,
    "tittel": null,
    "saksBehandler": null,
    "ekstraMetadata": [ { "key": null, "value": null } ]
  },
  "metadataForImport": {
    "sakssekvensnummer": 0,
    "saksaar": 0,
    "journalposttype": null,
    "journalstatus": "I",
    "dokumentetsDato": "2014-10-21T09:30:13.310+02:00",
    "tittel": null
  },
  "status": "Akseptert",
  "niva": "3",
  "filmetadata": [
    {
      "filnavn": "dokument-d1c6d795.pdf",
      "mimetype": "application/pdf",
      "sha256hash": "caaa6a09e4b5ad571c596dd31fb93689d402834a1b92ff660abeb59c534c088e",
      "dokumentType": null,
      "size": 234563
    }
  ],
  "svarSendesTil": {
    "adresse1": "Første adresselinje",
    "adresse2": "Andre adresselinje",
    "adresse3": null,
    "postnr": "5258",
    "poststed": "Blomsterdalen",
    "navn": "Orgnavn",
    "land": "Norge",
    "orgnr": "999888777"
  },
  "svarPaForsendelse": "0d7f4f5e-3c1b-4a7e-8b6f-1c2d3e4f5a6b",
  "forsendelseType": "forsendelseType sett av avsender",
  "eksternRef": "en ref fra avsender",
  "downloadUrl": "https://svarut.ks.no/tjenester/svarinn/forsendelse/6f3c1a52-2d0e-4a8e-9a4e-0c2f4a1b7d10"
}"#;

/// Built from the KS-OAS schema examples: every field set, dates in ms, status
/// "Klar for mottak", links, ekstraMetadata on a file, taushetsbelagt post.
const KS_OAS_EXAMPLE: &str = r#"{
  "avsender": {
    "adresselinje1": "Digitaliseringsetaten",
    "adresselinje2": "Utviklingsavdelingen",
    "adresselinje3": "Postboks 123",
    "navn": "Storevik kommune",
    "poststed": "Storevik",
    "postnr": "0000"
  },
  "mottaker": {
    "adresse1": "Storevik kommune",
    "adresse2": "Helseetaten",
    "adresse3": "Postboks 55",
    "postnr": "0000",
    "poststed": "Storevik",
    "navn": "Ola Nordmann",
    "land": "Norge",
    "orgnr": "123456789"
  },
  "id": "f11f5cba-68ad-422f-ad2c-922cd6060f46",
  "tittel": "Søknad om skjenkebevilling",
  "date": 1694782865669,
  "metadataFraAvleverendeSystem": {
    "sakssekvensnummer": 1234,
    "saksaar": 2020,
    "journalaar": 2023,
    "journalsekvensnummer": 23456,
    "journalpostnummer": 15,
    "journalposttype": "U",
    "journalstatus": "A",
    "journaldato": 1694781172651,
    "dokumentetsDato": 1694642400000,
    "tittel": "Søknad om støtte",
    "saksBehandler": "Kari Nordmann",
    "ekstraMetadata": [ { "key": "versjon", "value": "4" } ]
  },
  "metadataForImport": {
    "sakssekvensnummer": 648677,
    "saksaar": 2005,
    "journalposttype": "I",
    "journalstatus": "J",
    "dokumentetsDato": 1104879600000,
    "tittel": "Gjennomføringsplan",
    "mappeId": "fc051651-b853-4b4d-a7cd-fb2beea54356",
    "systemId": "7044a03d-c459-4cbe-a4c3-371cc6751215",
    "registreringsId": "5f9e9bc8-ffc1-40c0-8fdd-3b5ee32a2e43"
  },
  "status": "Klar for mottak",
  "niva": "4",
  "filmetadata": [
    {
      "filnavn": "brev.pdf",
      "mimetype": "application/pdf",
      "sha256hash": "82275bb0c47c7e5fe81e3f58242d44e3ca2f5ea438cea0013d9bfdeec736c910",
      "dokumentType": "B",
      "size": 15324,
      "ekstraMetadata": [ { "key": "versjon", "value": "4" } ]
    },
    {
      "filnavn": "vedlegg.pdf",
      "mimetype": "application/pdf",
      "sha256hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "size": 0
    }
  ],
  "svarSendesTil": {
    "adresse1": "Digitaliseringsetaten",
    "adresse2": "Utviklingsavdelingen",
    "adresse3": "Postboks 123",
    "postnr": "0000",
    "poststed": "Storevik",
    "navn": "Storevik kommune",
    "land": "Norge",
    "orgnr": "123456789"
  },
  "svarPaForsendelse": "aff355c4-7b57-4eb9-81e0-e4950e7a3776",
  "forsendelseType": "Innkommende dokument",
  "eksternRef": "AB123",
  "lenker": [
    { "ledetekst": "Trykk på lenken for mer informasjon", "urlLenke": "https://svarut.ks.no/", "urlTekst": "SvarUt" },
    { "urlLenke": "https://example.invalid/", "urlTekst": "uten ledetekst" }
  ],
  "downloadUrl": "https://svarut.ks.no/tjenester/svarinn/forsendelse/f11f5cba-68ad-422f-ad2c-922cd6060f46",
  "avgivendeSystem": "EDIALOG",
  "taushetsbelagtPost": true
}"#;

/// Only the required fields (KS-OAS `required`).
const MINIMAL: &str = r#"{
  "id": "00000000-0000-4000-8000-000000000001",
  "tittel": "Minimal",
  "mottaker": { "navn": "Storevik kommune" },
  "status": "Klar for mottak",
  "niva": "3",
  "filmetadata": [
    { "filnavn": "a.pdf", "mimetype": "application/pdf",
      "sha256hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "size": 0 }
  ],
  "downloadUrl": "https://svarut.ks.no/tjenester/svarinn/forsendelse/00000000-0000-4000-8000-000000000001"
}"#;

fn parse(json: &str) -> Forsendelse {
    serde_json::from_str(json).unwrap()
}

#[test]
fn ks_rest_example_with_iso_dokumentets_dato() {
    let f = parse(KS_REST_EXAMPLE);
    assert_eq!(f.id, "6f3c1a52-2d0e-4a8e-9a4e-0c2f4a1b7d10");
    assert_eq!(f.status, "Akseptert");
    assert_eq!(f.niva, "3");
    assert_eq!(f.date, Some(SvarInnDate::Millis(1_412_668_736_853)));
    assert_eq!(
        f.date.as_ref().unwrap().to_offset_date_time().unwrap(),
        datetime!(2014-10-07 07:58:56.853 UTC)
    );
    let avsender = f.avsender.as_ref().unwrap();
    assert_eq!(avsender.postnr.as_deref(), Some("3333"));
    assert_eq!(f.mottaker.navn, "Orgnavn");
    assert_eq!(f.mottaker.adresse3, None);
    assert_eq!(f.mottaker.fnr, None);
    assert_eq!(
        f.svar_sendes_til.as_ref().unwrap().orgnr.as_deref(),
        Some("999888777")
    );

    let fra = f.metadata_fra_avleverende_system.as_ref().unwrap();
    assert_eq!(fra.journalposttype.as_deref(), Some("U"));
    assert_eq!(fra.dokumentets_dato, None);
    let extra = fra.ekstra_metadata.as_ref().unwrap();
    assert_eq!(extra.len(), 1);
    assert_eq!(extra[0].key, None);

    let imp = f.metadata_for_import.as_ref().unwrap();
    let dd = imp.dokumentets_dato.as_ref().unwrap();
    assert_eq!(
        dd,
        &SvarInnDate::Text("2014-10-21T09:30:13.310+02:00".into())
    );
    assert_eq!(dd.to_date().unwrap(), date!(2014 - 10 - 21));
    assert_eq!(
        dd.to_offset_date_time().unwrap(),
        datetime!(2014-10-21 07:30:13.310 UTC)
    );

    assert_eq!(f.filmetadata.len(), 1);
    let fil = &f.filmetadata[0];
    assert_eq!(fil.filnavn, "dokument-d1c6d795.pdf");
    assert_eq!(fil.size, 234_563);
    assert_eq!(fil.declared_size(), Some(234_563));
    assert_eq!(fil.dokument_type, None);
    assert_eq!(fil.sha256().unwrap()[..2], [0xca, 0xaa]);
    assert_eq!(
        f.svar_pa_forsendelse.as_deref(),
        Some("0d7f4f5e-3c1b-4a7e-8b6f-1c2d3e4f5a6b")
    );
    assert_eq!(f.ekstern_ref.as_deref(), Some("en ref fra avsender"));
    assert!(f.download_url.ends_with(&f.id));
    assert_eq!(f.lenker, None);
    assert_eq!(f.taushetsbelagt_post, None);
    assert!(!f.is_digisos());
}

#[test]
fn ks_oas_example_with_ms_dates_and_every_field() {
    let f = parse(KS_OAS_EXAMPLE);
    assert_eq!(f.status, "Klar for mottak");
    assert_eq!(f.niva, "4");
    let fra = f.metadata_fra_avleverende_system.as_ref().unwrap();
    assert_eq!(fra.sakssekvensnummer, Some(1234));
    assert_eq!(fra.saksaar, Some(2020));
    assert_eq!(fra.journalaar, Some(2023));
    assert_eq!(fra.journalsekvensnummer, Some(23456));
    assert_eq!(fra.journalpostnummer, Some(15));
    assert_eq!(fra.saks_behandler.as_deref(), Some("Kari Nordmann"));
    assert_eq!(
        fra.journaldato,
        Some(SvarInnDate::Millis(1_694_781_172_651))
    );
    // Midnight in Oslo, i.e. 22:00 UTC the day before: the date is the Norwegian one.
    let dd = fra.dokumentets_dato.as_ref().unwrap();
    assert_eq!(dd, &SvarInnDate::Millis(1_694_642_400_000));
    assert_eq!(dd.to_date().unwrap(), date!(2023 - 09 - 14));
    assert_eq!(
        dd.to_offset_date_time().unwrap(),
        datetime!(2023-09-13 22:00 UTC)
    );
    let extra = fra.ekstra_metadata.as_ref().unwrap();
    assert_eq!(
        (extra[0].key.as_deref(), extra[0].value.as_deref()),
        (Some("versjon"), Some("4"))
    );

    let imp = f.metadata_for_import.as_ref().unwrap();
    assert_eq!(imp.sakssekvensnummer, Some(648_677));
    assert_eq!(
        imp.mappe_id.as_deref(),
        Some("fc051651-b853-4b4d-a7cd-fb2beea54356")
    );
    assert_eq!(
        imp.system_id.as_deref(),
        Some("7044a03d-c459-4cbe-a4c3-371cc6751215")
    );
    assert_eq!(
        imp.registrerings_id.as_deref(),
        Some("5f9e9bc8-ffc1-40c0-8fdd-3b5ee32a2e43")
    );
    // 1104879600000 = 2005-01-05 00:00 in Oslo (CET).
    assert_eq!(
        imp.dokumentets_dato.as_ref().unwrap().to_date().unwrap(),
        date!(2005 - 01 - 05)
    );

    assert_eq!(f.filmetadata.len(), 2);
    assert_eq!(f.filmetadata[0].dokument_type.as_deref(), Some("B"));
    assert_eq!(f.filmetadata[0].ekstra_metadata.as_ref().unwrap().len(), 1);
    assert_eq!(f.filmetadata[1].declared_size(), None);
    let lenker = f.lenker.as_ref().unwrap();
    assert_eq!(lenker.len(), 2);
    assert_eq!(lenker[0].url_tekst, "SvarUt");
    assert_eq!(lenker[1].ledetekst, None);
    assert_eq!(f.avgivende_system.as_deref(), Some("EDIALOG"));
    assert_eq!(f.taushetsbelagt_post, Some(true));
    assert_eq!(f.forsendelse_type.as_deref(), Some("Innkommende dokument"));
}

#[test]
fn serialising_round_trips_the_json_shape() {
    for json in [KS_OAS_EXAMPLE, KS_REST_EXAMPLE, MINIMAL] {
        let f = parse(json);
        let value = serde_json::to_value(&f).unwrap();
        // The same model again, and dates keep their shape (number stays number, text text).
        assert_eq!(
            serde_json::from_value::<Forsendelse>(value.clone()).unwrap(),
            f
        );
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(value["date"], original["date"]);
        assert_eq!(
            value["metadataForImport"]["dokumentetsDato"],
            original["metadataForImport"]["dokumentetsDato"]
        );
        assert_eq!(
            value["filmetadata"][0]["sha256hash"],
            original["filmetadata"][0]["sha256hash"]
        );
        assert_eq!(value["downloadUrl"], original["downloadUrl"]);
    }
    // With every field present, serialising gives back exactly the input (as a JSON value).
    let original: serde_json::Value = serde_json::from_str(KS_OAS_EXAMPLE).unwrap();
    assert_eq!(
        serde_json::to_value(parse(KS_OAS_EXAMPLE)).unwrap(),
        original
    );
    // camelCase names on the wire.
    let text = serde_json::to_string(&parse(KS_OAS_EXAMPLE)).unwrap();
    for name in [
        "\"metadataFraAvleverendeSystem\"",
        "\"metadataForImport\"",
        "\"svarSendesTil\"",
        "\"svarPaForsendelse\"",
        "\"forsendelseType\"",
        "\"eksternRef\"",
        "\"downloadUrl\"",
        "\"avgivendeSystem\"",
        "\"taushetsbelagtPost\"",
        "\"dokumentetsDato\"",
        "\"saksBehandler\"",
        "\"ekstraMetadata\"",
        "\"dokumentType\"",
        "\"urlLenke\"",
        "\"registreringsId\"",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}

#[test]
fn older_fields_are_read() {
    let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
    v["kryptert"] = true.into();
    v["krevNiva4Innlogging"] = false.into();
    let f: Forsendelse = serde_json::from_value(v).unwrap();
    assert_eq!(f.kryptert, Some(true));
    assert_eq!(f.krev_niva4_innlogging, Some(false));
    let out = serde_json::to_value(&f).unwrap();
    assert_eq!(out["krevNiva4Innlogging"], false);
}

#[test]
fn unknown_fields_are_ignored_everywhere() {
    let mut v: serde_json::Value = serde_json::from_str(KS_OAS_EXAMPLE).unwrap();
    v["nyttFelt2030"] = serde_json::json!({"noe": [1, 2, 3]});
    v["mottaker"]["epost"] = "post@storevik.kommune.no".into();
    v["filmetadata"][0]["sha512hash"] = "abc".into();
    v["metadataForImport"]["arkivdel"] = "SAK".into();
    let f: Forsendelse = serde_json::from_value(v).unwrap();
    assert_eq!(f, parse(KS_OAS_EXAMPLE));
}

#[test]
fn missing_optional_fields() {
    let f = parse(MINIMAL);
    assert_eq!(f.date, None);
    assert_eq!(f.avsender, None);
    assert_eq!(f.svar_sendes_til, None);
    assert_eq!(f.metadata_fra_avleverende_system, None);
    assert_eq!(f.metadata_for_import, None);
    assert_eq!(f.lenker, None);
    assert_eq!(f.forsendelse_type, None);
    assert_eq!(f.mottaker.orgnr, None);
    // Absent optionals are left out when serialising, not written as null.
    let text = serde_json::to_string(&f).unwrap();
    assert!(!text.contains("null"), "{text}");
    assert!(!text.contains("avsender"), "{text}");
}

#[test]
fn null_optional_fields() {
    let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
    for key in [
        "date",
        "avsender",
        "svarSendesTil",
        "metadataFraAvleverendeSystem",
        "metadataForImport",
        "svarPaForsendelse",
        "forsendelseType",
        "eksternRef",
        "lenker",
        "avgivendeSystem",
        "taushetsbelagtPost",
        "kryptert",
        "krevNiva4Innlogging",
    ] {
        v[key] = serde_json::Value::Null;
    }
    v["filmetadata"][0]["dokumentType"] = serde_json::Value::Null;
    v["filmetadata"][0]["ekstraMetadata"] = serde_json::Value::Null;
    v["mottaker"]["orgnr"] = serde_json::Value::Null;
    let f: Forsendelse = serde_json::from_value(v).unwrap();
    assert_eq!(f, parse(MINIMAL));
}

#[test]
fn missing_required_field_is_an_error_naming_it() {
    let cases: &[(&[&str], &str)] = &[
        (&["id"], "id"),
        (&["tittel"], "tittel"),
        (&["mottaker"], "mottaker"),
        (&["status"], "status"),
        (&["niva"], "niva"),
        (&["filmetadata"], "filmetadata"),
        (&["downloadUrl"], "downloadUrl"),
        (&["mottaker", "navn"], "navn"),
        (&["filmetadata", "0", "sha256hash"], "sha256hash"),
        (&["filmetadata", "0", "size"], "size"),
        (&["filmetadata", "0", "filnavn"], "filnavn"),
        (&["filmetadata", "0", "mimetype"], "mimetype"),
    ];
    for (path, name) in cases {
        let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        let (last, parents) = path.split_last().unwrap();
        let mut target = &mut v;
        for p in parents {
            target = match p.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[*p],
            };
        }
        target.as_object_mut().unwrap().remove(*last);
        let text = serde_json::to_string(&v).unwrap();
        let err = Forsendelse::from_json(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("missing field `{name}`")),
            "{path:?}: {err}"
        );
    }
    // null in a required field is an error too.
    let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
    v["tittel"] = serde_json::Value::Null;
    assert!(serde_json::from_value::<Forsendelse>(v).is_err());
}

#[test]
fn lenke_requires_url_fields() {
    let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
    v["lenker"] = serde_json::json!([{ "ledetekst": "x", "urlLenke": "https://a.invalid/" }]);
    let err = serde_json::from_value::<Forsendelse>(v)
        .unwrap_err()
        .to_string();
    assert!(err.contains("urlTekst"), "{err}");
}

#[test]
fn empty_list_and_a_full_page() {
    assert!(parse_list(b"[]").unwrap().is_empty());
    assert!(parse_list_lenient(b"[]").unwrap().items.is_empty());

    let template: serde_json::Value = serde_json::from_str(KS_OAS_EXAMPLE).unwrap();
    let page: Vec<serde_json::Value> = (0..MAX_PAGE)
        .map(|i| {
            let mut item = template.clone();
            let id = format!("00000000-0000-4000-8000-{i:012}");
            item["downloadUrl"] =
                format!("https://svarut.ks.no/tjenester/svarinn/forsendelse/{id}").into();
            item["id"] = id.into();
            item
        })
        .collect();
    let body = serde_json::to_vec_pretty(&page).unwrap();
    let list = parse_list(&body).unwrap();
    assert_eq!(list.len(), 200);
    assert_eq!(list[199].id, "00000000-0000-4000-8000-000000000199");
    let lenient = parse_list_lenient(&body).unwrap();
    assert_eq!(lenient.items.len(), 200);
    assert_eq!(lenient.ignored, 0);
    for (item, parsed) in lenient.items.iter().zip(&list) {
        assert_eq!(item.parsed.as_ref().unwrap(), parsed);
        assert_eq!(item.id.as_deref(), Some(parsed.id.as_str()));
        // The raw bytes are exactly one element of the array.
        assert_eq!(&Forsendelse::from_json(item.raw).unwrap(), parsed);
    }
}

#[test]
fn one_bad_item_does_not_hide_the_others() {
    let good: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
    let mut bad = good.clone();
    bad["id"] = "bad-one".into();
    bad.as_object_mut().unwrap().remove("niva");
    let body = serde_json::to_vec(&vec![good.clone(), bad, good]).unwrap();
    assert!(parse_list(&body).is_err());
    let items = parse_list_lenient(&body).unwrap().items;
    assert_eq!(items.len(), 3);
    assert!(items[0].parsed.is_ok());
    assert_eq!(items[1].id.as_deref(), Some("bad-one"));
    let err = items[1].parsed.as_ref().unwrap_err().to_string();
    assert!(err.contains("niva"), "{err}");
    assert!(items[2].parsed.is_ok());
    // Not an array at all: the whole list fails.
    assert!(parse_list_lenient(b"{\"feil\": 1}").is_err());
    assert!(parse_list_lenient(b"[{\"id\": \"x\"").is_err());
}

/// A list longer than the API's 200: only the first 200 items are parsed (a
/// hostile list of 1.5 M items once made 1.5 M warnings), the rest are counted.
#[test]
fn a_list_longer_than_a_page_yields_the_first_200_and_counts_the_rest() {
    let good: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
    let mut items: Vec<serde_json::Value> = vec![good.clone(), good];
    items.extend((0..100_000).map(|i| serde_json::json!({ "id": format!("junk-{i}") })));
    let body = serde_json::to_vec(&items).unwrap();
    let page = parse_list_lenient(&body).unwrap();
    assert_eq!(page.items.len(), MAX_PAGE);
    assert_eq!(page.ignored, 100_002 - MAX_PAGE);
    assert!(page.items[0].parsed.is_ok() && page.items[1].parsed.is_ok());
    assert!(page.items[2..].iter().all(|i| i.parsed.is_err()));
    assert_eq!(page.items[199].id.as_deref(), Some("junk-197"));
    assert_eq!(page.items[199].raw, br#"{"id":"junk-197"}"#);
}

#[test]
fn mottak_feilet_body_is_strict() {
    let body: MottakFeilet = serde_json::from_str(
        r#"{"feilmelding":"En god feilmelding som mennesker kan lese","permanent":true}"#,
    )
    .unwrap();
    assert!(body.permanent);
    assert_eq!(
        serde_json::to_string(&MottakFeilet {
            feilmelding: "x".into(),
            permanent: false
        })
        .unwrap(),
        r#"{"feilmelding":"x","permanent":false}"#
    );
    let missing = serde_json::from_str::<MottakFeilet>(r#"{"feilmelding":"x"}"#).unwrap_err();
    assert!(missing.to_string().contains("permanent"), "{missing}");
    let missing = serde_json::from_str::<MottakFeilet>(r#"{"permanent":false}"#).unwrap_err();
    assert!(missing.to_string().contains("feilmelding"), "{missing}");
    assert!(
        serde_json::from_str::<MottakFeilet>(r#"{"feilmelding":"x","permanent":null}"#).is_err()
    );
    assert!(
        serde_json::from_str::<MottakFeilet>(r#"{"feilmelding":"x","permanent":"true"}"#).is_err()
    );
}

#[test]
fn digisos_forsendelse_metadata() {
    let m: DigisosForsendelseMetadata = serde_json::from_str(
        r#"{"eksternRef":"11000000-0000-4000-8000-000000000001","digisosId":"2b0d1c4e-9f3a-4e8b-a1c2-3d4e5f6a7b8c","annet":1}"#,
    )
    .unwrap();
    assert_eq!(m.digisos_id, "2b0d1c4e-9f3a-4e8b-a1c2-3d4e5f6a7b8c");
    assert_eq!(m.soknad_leveranse_id, None);
    let err =
        serde_json::from_str::<DigisosForsendelseMetadata>(r#"{"eksternRef":"x"}"#).unwrap_err();
    assert!(err.to_string().contains("digisosId"), "{err}");
    let e: DigisosForsendelseMetadata = serde_json::from_str(
        r#"{"eksternRef":"x","digisosId":"y","soknadLeveranseId":{"sendtKanal":"SVARUT","id":"z"}}"#,
    )
    .unwrap();
    assert_eq!(e.soknad_leveranse_id.unwrap().sendt_kanal, "SVARUT");
    let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
    v["forsendelseType"] = "nav.digisos".into();
    assert!(
        serde_json::from_value::<Forsendelse>(v)
            .unwrap()
            .is_digisos()
    );
}
