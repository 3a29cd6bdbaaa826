//! The per-message label path: parse a `<securitylabel>` element (decoding its ESS label),
//! validate it, decide against a clearance, and render the FLOT prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use labelgate::label::flot::Flot;
use labelgate::label::xep0258::{LabelPayload, SecurityLabel};
use labelgate::label::{Clearance, PolicySet, load_policy};
use minidom::Element;

fn bench(c: &mut Criterion) {
    let spif = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/spif/uk-demo.xml"
    ))
    .unwrap();
    let set = PolicySet::new(load_policy(&spif).unwrap());
    let policy = set.primary();
    let label = policy
        .parse_marking("SECRET OVERLORD - UK / EU EYES ONLY")
        .unwrap();
    let sl = SecurityLabel {
        display: Some(labelgate::label::xep0258::DisplayMarking {
            text: policy.render_marking(&label).unwrap(),
            fg: Some("black".into()),
            bg: Some("#FFAA00".into()),
        }),
        label: LabelPayload::Ess(label.clone()),
        equivalents: vec![],
    };
    let element = Element::from(&sl);
    let clearance = Clearance::parse(policy, "TOP SECRET, UK, OVERLORD").unwrap();
    let flot = Flot::default();
    // The real path goes through the audited gate (records to a sink here).
    let gate = labelgate::audit::Gate::new(
        std::sync::Arc::new(set.clone()),
        std::sync::Arc::new(labelgate::audit::AuditLog::to_writer(
            Box::new(std::io::sink()),
            false,
        )),
    );
    let ctx = labelgate::audit::Context {
        direction: Some(labelgate::audit::Direction::XmppToIrc),
        account: "bob",
        jid: "bob@labelgate.test",
        room: "ops@conference.labelgate.test",
        ..Default::default()
    };

    c.bench_function(
        "label_path/full (parse element, ESS, validate, decide, audit, FLOT)",
        |b| {
            b.iter(|| {
                let sl = SecurityLabel::try_from(black_box(&element)).unwrap();
                let LabelPayload::Ess(l) = &sl.label else {
                    unreachable!()
                };
                let granted = gate.decide(&ctx, &clearance, l).unwrap();
                let prefix = flot.prefix(&policy.render_marking(l).unwrap());
                black_box((granted, prefix))
            })
        },
    );
    let der = label.to_der();
    c.bench_function("label_path/ess_decode", |b| {
        b.iter(|| labelgate::label::Label::from_der(black_box(&der)).unwrap())
    });
    c.bench_function("label_path/decide (validate + dominate)", |b| {
        b.iter(|| set.check(black_box(&clearance), black_box(&label)).unwrap())
    });
    c.bench_function("label_path/render_marking", |b| {
        b.iter(|| policy.render_marking(black_box(&label)).unwrap())
    });
    c.bench_function("label_path/parse_marking (IRC side)", |b| {
        b.iter(|| {
            policy
                .parse_marking(black_box("SECRET OVERLORD - UK / EU EYES ONLY"))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
