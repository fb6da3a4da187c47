// The Snowflake source of an incremental load (`snowflake://`), over connectors/snowflake.
#pragma once

#include "codecs/url.hpp"
#include "engine/incremental/source.hpp"

#include <map>
#include <memory>
#include <stop_token>
#include <string>

namespace uringmig::engine::incremental {

/// A Snowflake source (`snowflake://USER@ACCOUNT/DB/SCHEMA`) signing in with `[snowflake]`
/// private_key_file (key pair) or oauth_token; `[snowflake] endpoint` replaces the account's
/// URL. Control statements on the caller's executor. usage_error (one line, no secret) for
/// settings that cannot work: both or neither credential, a key file that does not load.
boost::asio::awaitable<std::unique_ptr<source>> open_snowflake_source(
    const codecs::snowflake_endpoint& e, const std::map<std::string, std::string>& settings,
    std::stop_token stop);

/// The rows of `q` as one SELECT in Snowflake's dialect: names double-quoted with their exact
/// case, bounds cast to the column's precision (TIMESTAMP_NTZ(9); LTZ/TZ with a UTC offset).
std::string snowflake_select(const row_query& q);

/// The first value of each of `groups` equal groups of `column`'s non-NULL values over the rows
/// of `q`, ascending: NTILE over the column, MIN per tile. Both it and the chunk predicate
/// compare with the column's own collation (UTF-8 code points when it has none).
std::string snowflake_boundaries_select(const row_query& q, const std::string& column, int groups);

}  // namespace uringmig::engine::incremental
