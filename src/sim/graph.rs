//! A snapshot of the overlay as a graph: the running nodes and their active
//! views, for the metrics.

use std::collections::HashMap;

use super::engine::Sim;
use super::ids::NodeIx;

/// The running nodes and whom each lists, renumbered 0..len.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    /// Position → node index in the simulation.
    nodes: Vec<NodeIx>,
    /// Position → positions of the running nodes it lists.
    out: Vec<Vec<u32>>,
    /// Position → entries of its view that name no running node.
    dangling: Vec<u32>,
}

impl Graph {
    /// A graph of the nodes in `views`, each with the nodes its active view
    /// lists. Entries naming a node not in `views` count as dangling.
    pub fn from_views(views: Vec<(NodeIx, Vec<NodeIx>)>) -> Graph {
        let index: HashMap<NodeIx, u32> = (views.iter().enumerate())
            .map(|(pos, (n, _))| (*n, pos as u32))
            .collect();
        let mut graph = Graph {
            nodes: Vec::with_capacity(views.len()),
            out: Vec::with_capacity(views.len()),
            dangling: Vec::with_capacity(views.len()),
        };
        for (node, view) in views {
            let listed: Vec<u32> = view.iter().filter_map(|n| index.get(n).copied()).collect();
            graph.dangling.push((view.len() - listed.len()) as u32);
            graph.out.push(listed);
            graph.nodes.push(node);
        }
        graph
    }

    /// A graph of nodes 0..adjacency.len() where node `i` lists
    /// `adjacency[i]` (handy for tests).
    pub fn from_adjacency(adjacency: &[&[NodeIx]]) -> Graph {
        let views = (adjacency.iter().enumerate())
            .map(|(n, view)| (n, view.to_vec()))
            .collect();
        Graph::from_views(views)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True without nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The simulation's index of the node at `pos`.
    pub fn node(&self, pos: usize) -> NodeIx {
        self.nodes[pos]
    }

    /// Positions of the nodes that `pos` lists.
    pub fn out(&self, pos: usize) -> &[u32] {
        &self.out[pos]
    }

    /// Size of `pos`'s active view (dangling entries included).
    pub fn out_degree(&self, pos: usize) -> usize {
        self.out[pos].len() + self.dangling[pos] as usize
    }

    /// View entries, over all nodes, that name no running node.
    pub fn dangling(&self) -> usize {
        self.dangling.iter().map(|d| *d as usize).sum()
    }

    /// The graph with links taken as undirected: per position the sorted
    /// positions it lists or is listed by, itself excluded.
    pub fn undirected(&self) -> Vec<Vec<u32>> {
        let mut adj = vec![Vec::new(); self.len()];
        for (a, outs) in self.out.iter().enumerate() {
            for &b in outs {
                if b as usize != a {
                    adj[a].push(b);
                    adj[b as usize].push(a as u32);
                }
            }
        }
        for list in &mut adj {
            list.sort_unstable();
            list.dedup();
        }
        adj
    }
}

impl Sim {
    /// The overlay now: every running node with its active view.
    pub fn snapshot(&self) -> Graph {
        let mut live = self.live_nodes().to_vec();
        live.sort_unstable();
        let views = live.into_iter().map(|n| (n, self.neighbours(n))).collect();
        Graph::from_views(views)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_become_positions_and_unknown_entries_dangle() {
        let views = vec![(10, vec![20, 99]), (20, vec![10]), (30, vec![])];
        let g = Graph::from_views(views);
        assert_eq!(g.len(), 3);
        assert_eq!(g.node(1), 20);
        assert_eq!(g.out(0), &[1]);
        assert_eq!(g.out_degree(0), 2);
        assert_eq!(g.dangling(), 1);
        assert_eq!(g.undirected(), vec![vec![1], vec![0], vec![]]);
    }

    #[test]
    fn undirected_merges_both_directions_and_drops_self_loops() {
        let g = Graph::from_adjacency(&[&[1, 0], &[], &[1]]);
        assert_eq!(g.undirected(), vec![vec![1], vec![0, 2], vec![1]]);
        assert_eq!(g.out_degree(0), 2, "the self-loop is a view entry");
    }
}
