//! A generator of realistic three-domain policies of N hosts and M flows, for benchmarks and
//! scale tests. Deterministic (a fixed linear congruential sequence), pure, returns TOML text
//! so benchmarks measure the whole parse -> validate -> compile path.

use std::fmt::Write as _;

/// Shape of a generated policy.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub hosts: usize,
    pub flows: usize,
    /// Hosts per named group (0: no groups).
    pub group_size: usize,
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Zone of the i-th host: 10% My Number, 60% LGWAN, 30% internet-connected.
fn zone_of(i: usize) -> (&'static str, u8) {
    match i % 10 {
        0 => ("mynumber", 10),
        1..=6 => ("lgwan", 20),
        _ => ("internet", 30),
    }
}

fn host_addr(i: usize) -> String {
    let (_, net) = zone_of(i);
    // Up to 65,536 hosts per zone in a /16.
    let n = i / 10 * 10 + i % 10;
    format!("10.{net}.{}.{}", (n >> 8) & 0xff, n & 0xff)
}

/// Generates the policy text.
pub fn policy(shape: Shape) -> String {
    let mut rng = Lcg(0x5eed);
    let mut t = String::with_capacity(shape.hosts * 80 + shape.flows * 160);
    t.push_str(
        "version = 1\n[policy]\nname = \"generated\"\nrevision = \"bench\"\nprofile = \"none\"\n\
         [zones.mynumber]\nrole = \"mynumber\"\nnetworks = [\"10.10.0.0/16\", \"fd00:10::/64\"]\n\
         [zones.lgwan]\nrole = \"lgwan\"\nnetworks = [\"10.20.0.0/16\", \"fd00:20::/64\"]\n\
         [zones.internet]\nrole = \"internet\"\nnetworks = [\"10.30.0.0/16\"]\n\
         [zones.uplink]\nrole = \"external\"\nnetworks = [\"0.0.0.0/0\", \"::/0\"]\n",
    );
    for i in 0..shape.hosts {
        let (zone, _) = zone_of(i);
        let _ = writeln!(
            t,
            "[hosts.h{i}]\nzone = \"{zone}\"\naddresses = [\"{}\"]",
            host_addr(i)
        );
    }
    let mut groups = Vec::new();
    if shape.group_size > 0 {
        // Groups of LGWAN terminals (same zone, consecutive LGWAN hosts).
        let lgwan: Vec<usize> = (0..shape.hosts)
            .filter(|i| zone_of(*i).0 == "lgwan")
            .collect();
        for (g, chunk) in lgwan
            .chunks(shape.group_size)
            .enumerate()
            .take(shape.hosts / 50 + 1)
        {
            let members: Vec<String> = chunk.iter().map(|i| format!("\"h{i}\"")).collect();
            let _ = writeln!(t, "[groups.g{g}]\nmembers = [{}]", members.join(", "));
            groups.push(g);
        }
    }
    for f in 0..shape.flows {
        let a = rng.below(shape.hosts);
        let mut b = rng.below(shape.hosts);
        if zone_of(a).0 == zone_of(b).0 {
            b = (b + 1) % shape.hosts.max(1);
        }
        let from = if !groups.is_empty() && f % 7 == 0 {
            format!("g{}", groups[rng.below(groups.len())])
        } else {
            format!("h{a}")
        };
        let port = 1024 + rng.below(50_000);
        let _ = writeln!(
            t,
            "[[flow]]\nid = \"F-{f:05}\"\nfrom = \"{from}\"\nto = \"h{b}\"\nports = [\"tcp/{port}\", \"udp/{}\"]\npurpose = \"generated flow {f}\"\napproved_by = \"bench\"",
            port + 1
        );
    }
    t.push_str(
        "[gateways.gw1]\ninterfaces = { mynumber = [\"ens3\"], lgwan = [\"ens4\"], internet = [\"ens5\"], uplink = [\"ens6\"] }\n",
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_policies_are_valid() {
        let text = policy(Shape {
            hosts: 500,
            flows: 100,
            group_size: 8,
        });
        let c = crate::validate("gen.toml", &text, None);
        assert!(
            !c.diagnostics.has_errors(),
            "{}",
            c.diagnostics.render_text()
        );
        let p = c.policy.expect("policy");
        assert_eq!(p.hosts.len(), 500);
        assert_eq!(p.flows.len(), 100);
    }
}
