//! Settings: defaults, precedence, validation.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_put_sqlite_under_the_data_folder() {
    let s = Settings::from_vars(vars(&[])).unwrap();
    assert_eq!(s.database_url, "sqlite://./data/alfa-cloud.db");
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.admin_user, "admin");
    assert_eq!(s.log_format, LogFormat::Text);
}

#[test]
fn environment_wins_over_the_toml_file() {
    let dir = std::env::temp_dir().join(format!("alfa-cfg-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("alfa.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\nadmin_user = \"root\"\n",
    )
    .unwrap();
    let s = Settings::from_vars(vars(&[
        ("ALFA_CONFIG", file.to_str().unwrap()),
        ("ALFA_ADMIN_USER", "ops"),
    ]))
    .unwrap();
    assert_eq!(s.listen.port(), 9000);
    assert_eq!(s.admin_user, "ops");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn durations_take_units() {
    assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
    assert!(parse_duration("ten").is_err());
    assert!(parse_duration("5d").is_err());
}

#[test]
fn the_public_url_defaults_to_the_listen_address_and_must_be_http() {
    let s = Settings::from_vars(vars(&[("ALFA_LISTEN", "0.0.0.0:9090")])).unwrap();
    assert_eq!(s.public_url, "http://0.0.0.0:9090");
    assert_eq!(s.acme_email, None);
    assert_eq!(s.app_ready_timeout, Duration::from_secs(120));
    let s = Settings::from_vars(vars(&[
        ("ALFA_PUBLIC_URL", "https://cloud.example.com/"),
        ("ALFA_ACME_EMAIL", "ops@example.com"),
        ("ALFA_APP_READY_TIMEOUT", "5m"),
    ]))
    .unwrap();
    assert_eq!(s.public_url, "https://cloud.example.com");
    assert_eq!(s.acme_email.as_deref(), Some("ops@example.com"));
    assert_eq!(s.app_ready_timeout, Duration::from_secs(300));
    for bad in [
        "cloud.example.com",
        "ftp://x",
        "https://",
        "https://a b",
        "http://x/$y",
    ] {
        let err = Settings::from_vars(vars(&[("ALFA_PUBLIC_URL", bad)])).unwrap_err();
        assert!(err.to_string().contains("ALFA_PUBLIC_URL"), "{bad}: {err}");
    }
    let err = Settings::from_vars(vars(&[("ALFA_ACME_EMAIL", "nobody")])).unwrap_err();
    assert!(err.to_string().contains("ALFA_ACME_EMAIL"), "{err}");
    let err = Settings::from_vars(vars(&[("ALFA_APP_READY_TIMEOUT", "soon")])).unwrap_err();
    assert!(err.to_string().contains("ALFA_APP_READY_TIMEOUT"), "{err}");
}

#[test]
fn bad_values_name_the_variable() {
    let err = Settings::from_vars(vars(&[("ALFA_LISTEN", "nowhere")])).unwrap_err();
    assert!(err.to_string().contains("ALFA_LISTEN"), "{err}");
    let err = Settings::from_vars(vars(&[("ALFA_LOG_FORMAT", "xml")])).unwrap_err();
    assert!(err.to_string().contains("ALFA_LOG_FORMAT"), "{err}");
}

#[test]
fn backups_seeders_and_update_to_have_defaults_and_are_checked() {
    let s = Settings::from_vars(vars(&[])).unwrap();
    assert_eq!(s.backups_keep, 5);
    assert_eq!(s.demo_seeder, "DemoSeeder");
    assert_eq!(s.demo_inverse_seeder, "DemoInverseSeeder");
    assert_eq!(s.update_to_interval, Duration::from_secs(60));
    let s = Settings::from_vars(vars(&[
        ("ALFA_BACKUPS_KEEP", "2"),
        ("ALFA_DEMO_SEEDER", "Database\\Seeders\\LabDemo"),
    ]))
    .unwrap();
    assert_eq!(s.backups_keep, 2);
    assert_eq!(s.demo_seeder, "Database\\Seeders\\LabDemo");
    for (name, bad) in [
        ("ALFA_BACKUPS_KEEP", "0"),
        ("ALFA_DEMO_SEEDER", "Demo;rm -rf"),
        ("ALFA_DEMO_INVERSE_SEEDER", "1Seeder"),
    ] {
        let err = Settings::from_vars(vars(&[(name, bad)])).unwrap_err();
        assert!(err.to_string().contains(name), "{name}={bad}: {err}");
    }
}

#[test]
fn the_probe_interval_defaults_to_a_minute_and_turns_off_with_0_or_off() {
    let defaults = Settings::from_vars(vars(&[])).unwrap();
    assert_eq!(defaults.probe_interval, Some(Duration::from_secs(60)));
    for off in ["0", "off", "0s"] {
        let settings = Settings::from_vars(vars(&[("ALFA_PROBE_INTERVAL", off)])).unwrap();
        assert_eq!(settings.probe_interval, None, "{off}");
    }
    let settings = Settings::from_vars(vars(&[("ALFA_PROBE_INTERVAL", "500ms")])).unwrap();
    assert_eq!(settings.probe_interval, Some(Duration::from_millis(500)));
    let err = Settings::from_vars(vars(&[("ALFA_PROBE_INTERVAL", "often")])).unwrap_err();
    assert!(err.to_string().contains("ALFA_PROBE_INTERVAL"), "{err}");
}

#[test]
fn keep_images_defaults_to_3_and_takes_0_to_1000() {
    assert_eq!(Settings::from_vars(vars(&[])).unwrap().keep_images, 3);
    for (raw, want) in [("0", 0), ("10", 10), ("1000", 1000)] {
        let s = Settings::from_vars(vars(&[("ALFA_KEEP_IMAGES", raw)])).unwrap();
        assert_eq!(s.keep_images, want, "{raw}");
    }
    for bad in ["-1", "1001", "three"] {
        let err = Settings::from_vars(vars(&[("ALFA_KEEP_IMAGES", bad)])).unwrap_err();
        assert!(err.to_string().contains("ALFA_KEEP_IMAGES"), "{bad}: {err}");
    }
}
