//! The delivery transaction across two shards: each copy is written by its account's home
//! shard, and commit returns the UIDs once all are durable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::rc::Rc;
use std::time::Duration;

use ringpost::mail::Uid;
use ringpost::runtime::fanout::{handler, Deliverer, StoreReply, StoreRequest};
use ringpost::runtime::{Executor, Mesh, MeshBuilder, ShardId, ShardMap};
use ringpost::store::{Store, StoreConfig};

#[test]
fn delivery_to_accounts_on_two_shards() {
    let dir = tempfile::tempdir().unwrap();
    let map = ShardMap::new(2);
    // Two recipients per shard.
    let mut on: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for i in 0.. {
        let a = format!("r{i}@example.com");
        let s = map.home_shard(&a).0;
        if on[s].len() < 2 {
            on[s].push(a);
        }
        if on[0].len() == 2 && on[1].len() == 2 {
            break;
        }
    }
    let recipients: Vec<String> = on.concat();
    let builder: MeshBuilder<StoreRequest, StoreReply> = MeshBuilder::new(2).unwrap();
    let mut handles = Vec::new();
    for shard in 0..2 {
        let (builder, root, recipients) = (
            builder.clone(),
            dir.path().to_path_buf(),
            recipients.clone(),
        );
        handles.push(
            Executor::new(format!("shard-{shard}"))
                .io_memory(256 << 10)
                .ring_depth(32)
                .spawn(move || async move {
                    let store = Store::new(&root, ShardId(shard), map, StoreConfig::default());
                    let mesh = Rc::new(
                        Mesh::join(builder, ShardId(shard), handler(store.clone(), None))
                            .await
                            .unwrap(),
                    );
                    let deliverer = Deliverer::new(store.clone(), mesh);
                    if shard == 0 {
                        for n in 1..=3u32 {
                            let mut d = deliverer.begin();
                            for r in &recipients {
                                d.add_recipient(&r.to_uppercase()).unwrap();
                            }
                            d.write(b"Subject: hi\r\n\r\n").unwrap();
                            d.write(format!("part {n}\r\n").as_bytes()).unwrap();
                            let got = d.commit().await.unwrap().copies;
                            let mut expect: Vec<(String, Uid)> =
                                recipients.iter().map(|r| (r.clone(), Uid(n))).collect();
                            let mut got_sorted = got.clone();
                            got_sorted.sort();
                            expect.sort();
                            assert_eq!(got_sorted, expect);
                        }
                    }
                    // Each shard checks its own accounts once the third delivery reached them
                    // (shard 1 waits for shard 0's deliveries: bounded polling, no fixed
                    // sleep, which a loaded machine outruns).
                    for r in recipients.iter().filter(|r| store.owns(r)) {
                        let mut tries = 0;
                        let body = loop {
                            match store.read(r, "INBOX", Uid(3)).await {
                                Ok(body) => break body,
                                Err(_) if tries < 600 => {
                                    tries += 1;
                                    glommio::timer::sleep(Duration::from_millis(50)).await;
                                }
                                Err(e) => panic!("{r}: the third delivery never came: {e}"),
                            }
                        };
                        assert_eq!(&*body, b"Subject: hi\r\n\r\npart 3\r\n");
                    }
                    glommio::timer::sleep(Duration::from_millis(100)).await;
                })
                .unwrap(),
        );
    }
    for h in handles {
        h.join().unwrap();
    }
}
