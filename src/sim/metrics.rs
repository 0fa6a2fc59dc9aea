//! Shape of the overlay, measured on a [`Graph`] snapshot: connectivity,
//! degrees, symmetry, clustering, path length, isolation.
//!
//! Connectivity, clustering and paths take links as undirected (A–B when A
//! lists B or B lists A): an item crosses a link either way once both ends
//! hold it, and a one-way entry is a transient the symmetry share shows.

use std::collections::VecDeque;

use rand::Rng;
use rand::seq::index;

use super::graph::Graph;

/// How many nodes have each degree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Distribution {
    /// `counts[k]`: nodes of degree `k`.
    pub counts: Vec<usize>,
}

impl Distribution {
    /// The distribution of `degrees`.
    pub fn of(degrees: impl IntoIterator<Item = usize>) -> Distribution {
        let mut counts = Vec::new();
        for d in degrees {
            if counts.len() <= d {
                counts.resize(d + 1, 0);
            }
            counts[d] += 1;
        }
        Distribution { counts }
    }

    /// Number of nodes counted.
    pub fn nodes(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Smallest degree (0 when empty).
    pub fn min(&self) -> usize {
        self.counts.iter().position(|c| *c > 0).unwrap_or(0)
    }

    /// Largest degree (0 when empty).
    pub fn max(&self) -> usize {
        self.counts.iter().rposition(|c| *c > 0).unwrap_or(0)
    }

    /// Mean degree (0 when empty).
    pub fn mean(&self) -> f64 {
        let nodes = self.nodes();
        if nodes == 0 {
            return 0.0;
        }
        let sum: usize = self.counts.iter().enumerate().map(|(k, c)| k * c).sum();
        sum as f64 / nodes as f64
    }

    /// Nodes of degree `k`.
    pub fn count(&self, k: usize) -> usize {
        self.counts.get(k).copied().unwrap_or(0)
    }
}

/// Sizes of the connected components, largest first.
pub fn components(g: &Graph) -> Vec<usize> {
    let adj = g.undirected();
    let mut seen = vec![false; g.len()];
    let mut sizes = Vec::new();
    for start in 0..g.len() {
        if !seen[start] {
            sizes.push(bfs(&adj, start, &mut seen).len());
        }
    }
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

/// Share of the nodes in the largest connected component (1 for an empty
/// graph: nothing is cut off).
pub fn largest_component_share(g: &Graph) -> f64 {
    match components(g).first() {
        Some(&largest) => largest as f64 / g.len() as f64,
        None => 1.0,
    }
}

/// Out-degrees: the size of each node's own active view (entries naming
/// dead nodes included).
pub fn out_degrees(g: &Graph) -> Distribution {
    Distribution::of((0..g.len()).map(|n| g.out_degree(n)))
}

/// In-degrees: how many running nodes list each node.
pub fn in_degrees(g: &Graph) -> Distribution {
    let mut listed_by = vec![0usize; g.len()];
    for n in 0..g.len() {
        for &m in g.out(n) {
            listed_by[m as usize] += 1;
        }
    }
    Distribution::of(listed_by)
}

/// Share of the linked pairs (A lists B, B lists A, or both) where only one
/// lists the other; 0 without links.
pub fn asymmetric_share(g: &Graph) -> f64 {
    let (mut pairs, mut one_way) = (0usize, 0usize);
    for (a, neighbours) in g.undirected().iter().enumerate() {
        for &b in neighbours.iter().filter(|b| **b as usize > a) {
            pairs += 1;
            let a_lists_b = g.out(a).contains(&b);
            let b_lists_a = g.out(b as usize).contains(&(a as u32));
            if a_lists_b != b_lists_a {
                one_way += 1;
            }
        }
    }
    ratio(one_way, pairs)
}

/// Average local clustering coefficient: per node, the share of pairs of
/// its neighbours that are linked themselves; nodes with fewer than two
/// neighbours count as 0 (the convention of networkx's
/// `average_clustering`). 0 for an empty graph.
pub fn clustering(g: &Graph) -> f64 {
    let adj = g.undirected();
    let mut sum = 0.0;
    for neighbours in &adj {
        let k = neighbours.len();
        if k < 2 {
            continue;
        }
        let mut linked = 0usize;
        for (i, &u) in neighbours.iter().enumerate() {
            for &w in &neighbours[i + 1..] {
                if adj[u as usize].binary_search(&w).is_ok() {
                    linked += 1;
                }
            }
        }
        sum += linked as f64 / (k * (k - 1) / 2) as f64;
    }
    if adj.is_empty() {
        0.0
    } else {
        sum / adj.len() as f64
    }
}

/// Average shortest path length in hops between a source and the nodes it
/// reaches, by breadth-first search from every node when there are at most
/// `sources` nodes, else from `sources` distinct nodes picked by `rng`.
/// None when no node reaches another.
pub fn average_path<R: Rng>(g: &Graph, sources: usize, rng: &mut R) -> Option<f64> {
    let adj = g.undirected();
    let starts: Vec<usize> = if g.len() <= sources {
        (0..g.len()).collect()
    } else {
        index::sample(rng, g.len(), sources).into_vec()
    };
    let (mut hops, mut pairs) = (0u64, 0u64);
    let mut dist = vec![u32::MAX; g.len()];
    for start in starts {
        dist.fill(u32::MAX);
        dist[start] = 0;
        let mut todo = VecDeque::from([start]);
        while let Some(n) = todo.pop_front() {
            for &m in &adj[n] {
                if dist[m as usize] == u32::MAX {
                    dist[m as usize] = dist[n] + 1;
                    hops += u64::from(dist[n] + 1);
                    pairs += 1;
                    todo.push_back(m as usize);
                }
            }
        }
    }
    (pairs > 0).then(|| hops as f64 / pairs as f64)
}

/// Nodes whose active view is empty.
pub fn isolated(g: &Graph) -> usize {
    (0..g.len()).filter(|&n| g.out_degree(n) == 0).count()
}

/// The nodes reachable from `start` that were not seen yet, marked seen.
fn bfs(adj: &[Vec<u32>], start: usize, seen: &mut [bool]) -> Vec<usize> {
    let mut reached = vec![start];
    seen[start] = true;
    let mut todo = VecDeque::from([start]);
    while let Some(n) = todo.pop_front() {
        for &m in &adj[n] {
            if !std::mem::replace(&mut seen[m as usize], true) {
                reached.push(m as usize);
                todo.push_back(m as usize);
            }
        }
    }
    reached
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Every metric of one snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// Running nodes.
    pub live: usize,
    /// Sizes of the connected components, largest first.
    pub components: Vec<usize>,
    /// Share of the running nodes in the largest component.
    pub largest_share: f64,
    /// Nodes with an empty active view.
    pub isolated: usize,
    /// Active view sizes.
    pub out_degree: Distribution,
    /// How often each node is listed.
    pub in_degree: Distribution,
    /// Share of linked pairs listed one way only.
    pub asymmetric: f64,
    /// Average local clustering coefficient.
    pub clustering: f64,
    /// Average shortest path (hops), sampled on large graphs.
    pub average_path: Option<f64>,
    /// View entries naming dead nodes.
    pub dangling: usize,
}

impl Metrics {
    /// Breadth-first searches [`Metrics::of`] runs for the average path on
    /// a large graph.
    pub const PATH_SOURCES: usize = 100;

    /// All metrics of `g`; the average path from [`Metrics::PATH_SOURCES`]
    /// sources picked by `rng` on large graphs.
    pub fn of<R: Rng>(g: &Graph, rng: &mut R) -> Metrics {
        let components = components(g);
        let largest_share = components
            .first()
            .map_or(1.0, |&l| l as f64 / g.len() as f64);
        Metrics {
            live: g.len(),
            components,
            largest_share,
            isolated: isolated(g),
            out_degree: out_degrees(g),
            in_degree: in_degrees(g),
            asymmetric: asymmetric_share(g),
            clustering: clustering(g),
            average_path: average_path(g, Metrics::PATH_SOURCES, rng),
            dangling: g.dangling(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// A ring of `n` nodes, each listing both ring neighbours.
    fn ring(n: usize) -> Graph {
        let views = (0..n).map(|i| (i, vec![(i + n - 1) % n, (i + 1) % n]));
        Graph::from_views(views.collect())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn two_triangles_and_a_loner() {
        let g = Graph::from_adjacency(&[&[1, 2], &[0, 2], &[0, 1], &[4], &[3, 5], &[4], &[]]);
        assert_eq!(components(&g), vec![3, 3, 1]);
        assert!(close(largest_component_share(&g), 3.0 / 7.0));
        assert_eq!(isolated(&g), 1);
        // Triangle nodes: 1 each; the path 3-4-5: 4 has two unlinked
        // neighbours (0), the ends one neighbour (0); the loner 0.
        assert!(close(clustering(&g), 3.0 / 7.0));
    }

    #[test]
    fn a_ring_has_known_paths_and_no_triangles() {
        let g = ring(6);
        assert_eq!(components(&g), vec![6]);
        assert!(close(clustering(&g), 0.0));
        // From any node: two at 1 hop, two at 2, one at 3.
        let mut rng = StdRng::seed_from_u64(1);
        assert!(close(average_path(&g, 100, &mut rng).unwrap(), 9.0 / 5.0));
        assert_eq!(
            out_degrees(&g),
            Distribution {
                counts: vec![0, 0, 6]
            }
        );
        assert_eq!(in_degrees(&g).count(2), 6);
        assert!(close(asymmetric_share(&g), 0.0));
    }

    #[test]
    fn one_way_links_show_in_degrees_and_symmetry() {
        // 0 → 1 only; 1 ↔ 2; 3 lists 0 and a dead node (9).
        let views = vec![(0, vec![1]), (1, vec![2]), (2, vec![1]), (3, vec![0, 9])];
        let g = Graph::from_views(views);
        assert!(close(asymmetric_share(&g), 2.0 / 3.0));
        let outs = out_degrees(&g);
        assert_eq!((outs.min(), outs.max()), (1, 2));
        assert!(close(outs.mean(), 5.0 / 4.0));
        let ins = in_degrees(&g);
        assert_eq!(ins.counts, vec![1, 2, 1]);
        assert_eq!(ins.count(2), 1, "node 1 is listed by 0 and 2");
        assert_eq!(g.dangling(), 1);
        assert_eq!(components(&g), vec![4]);
    }

    #[test]
    fn sampled_paths_stay_close_to_exact_ones() {
        let g = ring(400);
        let mut rng = StdRng::seed_from_u64(7);
        let exact = average_path(&g, 400, &mut rng).unwrap();
        let sampled = average_path(&g, 50, &mut rng).unwrap();
        assert!(close(exact, 40_000.0 / 399.0), "{exact}");
        // Every node of a ring sees the same distances.
        assert!(close(sampled, exact), "{sampled}");
    }

    #[test]
    fn empty_and_edgeless_graphs() {
        let empty = Graph::from_views(Vec::new());
        assert_eq!(components(&empty), Vec::<usize>::new());
        assert!(close(largest_component_share(&empty), 1.0));
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(average_path(&empty, 10, &mut rng), None);
        let loners = Graph::from_adjacency(&[&[], &[]]);
        assert!(close(largest_component_share(&loners), 0.5));
        assert_eq!(isolated(&loners), 2);
        assert!(close(clustering(&loners), 0.0));
        let m = Metrics::of(&loners, &mut rng);
        assert_eq!((m.live, m.components.len(), m.average_path), (2, 2, None));
    }
}
