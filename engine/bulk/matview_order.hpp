#pragma once

// In which order the bulk clone refreshes materialized views: a decision without I/O.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace uringmig::engine {

struct matview_node {
  std::string name;  // qualified, quoted
  bool populated = false;
  std::vector<std::uint32_t> deps;  // materialized views it reads (OIDs), through views too
  int level = -1;                   // set by order_matviews: refreshed after every lower level
};

/// Sets every node's level: 0 for one that reads no other materialized view, else one more than
/// the highest level it reads (dependencies outside `all` are ignored; a cycle, which PostgreSQL
/// refuses, would leave its members at -1). A populated node that reads an unpopulated one
/// becomes unpopulated (REFRESH would fail there; pg_dump leaves it too). Returns the names of
/// those, in OID order.
std::vector<std::string> order_matviews(std::map<std::uint32_t, matview_node>& all);

}  // namespace uringmig::engine
