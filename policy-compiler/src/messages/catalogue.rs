//! Every message, English and Japanese side by side. Ids name what the message says; the
//! diagnostic codes (E0xx, W0xx, G0xx) are separate and never translated.
//!
//! Japanese wording follows the terms of the customer-facing guides (docs/admin-guide.ja.md):
//! ゾーン, フロー, ホスト, グループ, ゲートウェイ, インターフェース.

use super::Msg;

macro_rules! catalogue {
    ($($id:ident { en: $en:expr, ja: $ja:expr $(,)? })*) => {
        $(
            pub static $id: Msg = Msg { id: stringify!($id), en: $en, ja: $ja };
        )*
        /// Every entry, for the test that each has both languages.
        pub static ALL: &[&Msg] = &[$(&$id),*];
    };
}

catalogue! {
    // ---- phrases used inside other messages ----------------------------------------------
    PHRASE_ZONE { en: "zone {zone}", ja: "ゾーン {zone}" }
    PHRASE_WHOLE_ZONE { en: "the whole zone {zone}", ja: "ゾーン {zone} 全体" }
    PHRASE_NONE_DECLARED { en: "(none declared)", ja: "(宣言なし)" }
    PHRASE_NO_ZONES_DECLARED { en: "(no zones declared)", ja: "(ゾーンの宣言なし)" }

    // ---- diagnostics: rendering ----------------------------------------------------------
    SEVERITY_ERROR { en: "error", ja: "エラー" }
    SEVERITY_WARNING { en: "warning", ja: "警告" }
    DIAG_HINT { en: "hint", ja: "対処" }
    DIAG_SUMMARY { en: "{errors} {error_word}, {warnings} {warning_word}", ja: "{error_word} {errors} 件、{warning_word} {warnings} 件" }
    WORD_ERROR { en: "error", ja: "エラー" }
    WORD_ERRORS { en: "errors", ja: "エラー" }
    WORD_WARNING { en: "warning", ja: "警告" }
    WORD_WARNINGS { en: "warnings", ja: "警告" }

    // ---- zonegate check ----------------------------------------------------------------------
    CHECK_OK { en: "{file}: ok: policy {name} revision {revision}, {zones} zones, {hosts} hosts, {groups} groups, {flows} flows ({active} active), {gateways} gateways", ja: "{file}: 問題なし: ポリシー {name} 改訂 {revision}、ゾーン {zones}、ホスト {hosts}、グループ {groups}、フロー {flows}(有効 {active})、ゲートウェイ {gateways}" }

    // ---- E001: the file itself -------------------------------------------------------------
    E001_NOT_UTF8 { en: "the file is not valid UTF-8", ja: "ファイルが正しい UTF-8 ではありません" }
    E001_NOT_UTF8_HINT { en: "save zones.toml as UTF-8 (Japanese text included)", ja: "zones.toml を UTF-8 で保存してください(日本語の部分も含めて)" }
    E001_TOML { en: "{detail}", ja: "TOML の書式エラー: {detail}" }
    E001_UNKNOWN_FIELD_HINT { en: "check the spelling of the key; docs/zones-reference.md lists every key", ja: "キーの綴りを確認してください。すべてのキーは zones.toml(5) と docs/zones-reference.md にあります" }
    E001_INVALID_TYPE_HINT { en: "check the value's type: text needs quotes, lists need [ ]", ja: "値の型を確認してください。文字列は引用符で、リストは [ ] で囲みます" }
    E001_DUPLICATE_KEY_HINT { en: "each key and table may appear once", ja: "同じキーやテーブルは一度しか書けません" }
    E001_SYNTAX_HINT { en: "fix the TOML syntax at this position", ja: "この位置の TOML の書き方を直してください" }

    // ---- E002: version -----------------------------------------------------------------------
    E002_VERSION_UNSUPPORTED { en: "unsupported zones.toml version {version}", ja: "zones.toml の version {version} には対応していません" }
    E002_VERSION_UNSUPPORTED_HINT { en: "this zonegate reads version = 1", ja: "この zonegate が読めるのは version = 1 です" }
    E002_VERSION_MISSING { en: "missing `version`", ja: "`version` がありません" }
    E002_VERSION_MISSING_HINT { en: "start the file with `version = 1`", ja: "ファイルの先頭に `version = 1` を書いてください" }
    E002_MIN_AGENT_SYNTAX { en: "min_agent_version {value} is not MAJOR.MINOR[.PATCH]", ja: "min_agent_version {value} は MAJOR.MINOR[.PATCH] の形ではありません" }
    E002_MIN_AGENT_SYNTAX_HINT { en: "write for example min_agent_version = \"0.1\"", ja: "例: min_agent_version = \"0.1\"" }
    E002_MIN_AGENT_NEWER { en: "this policy needs zonegate {want} or newer; this is {have}", ja: "このポリシーには zonegate {want} 以降が必要です(この zonegate は {have})" }
    E002_MIN_AGENT_NEWER_HINT { en: "upgrade zonegate on this machine and on every gateway before using this policy", ja: "このポリシーを使う前に、この端末とすべてのゲートウェイの zonegate を更新してください" }

    // ---- E003: names ---------------------------------------------------------------------------
    E003_ZONE_NAME { en: "zone name {name} is not allowed", ja: "ゾーン名 {name} は使えません" }
    E003_ZONE_NAME_HINT { en: "zone names start with a letter and use letters, digits and '_' (at most 24); they become nftables chain names", ja: "ゾーン名は英字で始め、英数字と '_' で 24 文字以内にしてください(nftables のチェイン名になります)" }
    E003_HOST_NAME { en: "host name {name} is not allowed", ja: "ホスト名 {name} は使えません" }
    E003_GROUP_NAME { en: "group name {name} is not allowed", ja: "グループ名 {name} は使えません" }
    E003_SERVICE_NAME { en: "service name {name} is not allowed", ja: "サービス名 {name} は使えません" }
    E003_GATEWAY_NAME { en: "gateway name {name} is not allowed", ja: "ゲートウェイ名 {name} は使えません" }
    E003_NAME_HINT { en: "names start with a letter or digit and use letters, digits, '.', '_' and '-' (at most 64)", ja: "名前は英数字で始め、英数字と '.'、'_'、'-' で 64 文字以内にしてください" }
    E003_FLOW_ID { en: "flow id {id} is not allowed", ja: "フロー ID {id} は使えません" }
    E003_FLOW_ID_HINT { en: "flow ids use letters, digits, '.', '_' and '-', at most 32 characters", ja: "フロー ID には英数字と '.'、'_'、'-' を 32 文字以内で使います" }

    // ---- E004: the name space --------------------------------------------------------------
    E004_RESERVED { en: "\"gateway\" is reserved and cannot name a {kind}", ja: "\"gateway\" は予約語のため {kind} の名前にはできません" }
    E004_RESERVED_HINT { en: "\"gateway\" in from/to means the gateway itself; rename this one", ja: "from/to の \"gateway\" はゲートウェイ自身を指します。名前を変えてください" }
    E004_TWICE { en: "{name} names both a {first} and a {kind}", ja: "{name} が {first} と {kind} の両方の名前になっています" }
    E004_TWICE_HINT { en: "zone, host and group names share one namespace; rename one of them", ja: "ゾーン・ホスト・グループの名前は同じ名前空間を共有します。どちらかの名前を変えてください" }
    KIND_ZONE { en: "zone", ja: "ゾーン" }
    KIND_HOST { en: "host", ja: "ホスト" }
    KIND_GROUP { en: "group", ja: "グループ" }

    // ---- E005: flow ids --------------------------------------------------------------------------
    E005_DUPLICATE_FLOW { en: "flow id {id} is already used at line {line}", ja: "フロー ID {id} は {line} 行目ですでに使われています" }
    E005_DUPLICATE_FLOW_HINT { en: "give every flow its own id", ja: "フローごとに別の ID を付けてください" }

    // ---- E006/E007: networks ---------------------------------------------------------------------
    E006_NO_NETWORKS { en: "zone {zone} has no networks", ja: "ゾーン {zone} に networks がありません" }
    E006_NO_NETWORKS_HINT { en: "add networks = [\"10.10.0.0/24\"] (IPv4 and/or IPv6)", ja: "networks = [\"10.10.0.0/24\"] を追加してください(IPv4、IPv6 またはその両方)" }
    E006_NOT_NETWORK { en: "{value} is not an IPv4 or IPv6 network", ja: "{value} は IPv4 ネットワークでも IPv6 ネットワークでもありません" }
    E006_NOT_NETWORK_HINT { en: "write a literal network such as \"10.10.0.0/24\" or \"fd00:10::/64\" (names are not resolved)", ja: "\"10.10.0.0/24\" や \"fd00:10::/64\" のようにネットワークをそのまま書いてください(名前解決はしません)" }
    E006_PREFIX { en: "{value} has an invalid prefix length", ja: "{value} のプレフィックス長が正しくありません" }
    E006_PREFIX_HINT { en: "the prefix is 0..=32 for IPv4 and 0..=128 for IPv6", ja: "プレフィックス長は IPv4 で 0..=32、IPv6 で 0..=128 です" }
    E006_HOST_BITS { en: "{value} has host bits set", ja: "{value} にホスト部のビットが立っています" }
    E006_HOST_BITS_HINT { en: "did you mean \"{canonical}\"?", ja: "\"{canonical}\" のことですか?" }
    W006_NETWORK_TWICE { en: "network {network} is listed twice in zone {zone}", ja: "ネットワーク {network} がゾーン {zone} に二度書かれています" }
    W006_NETWORK_TWICE_HINT { en: "remove the duplicate", ja: "重複を削除してください" }
    E007_NETWORK_TWO_ZONES { en: "network {network} is in zone {other} and zone {zone}", ja: "ネットワーク {network} がゾーン {other} とゾーン {zone} の両方にあります" }
    E007_NETWORK_TWO_ZONES_HINT { en: "a network belongs to one zone; a more specific network inside it may belong to another", ja: "ネットワークは一つのゾーンに属します。その内側のより細かいネットワークなら別のゾーンに属せます" }

    // ---- E008/E009: addresses ----------------------------------------------------------------------
    E008_NOT_ADDRESS { en: "{value} is not an IPv4 or IPv6 address", ja: "{value} は IPv4 アドレスでも IPv6 アドレスでもありません" }
    E008_ROUTER_HINT { en: "write a router's literal address such as \"10.10.0.254\" (names are not resolved; no prefix here)", ja: "ルーターのアドレスをそのまま書いてください(例: \"10.10.0.254\"。名前解決はせず、プレフィックスも付けません)" }
    E008_HOST_HINT { en: "write a literal address such as \"10.10.0.5\" (names are not resolved; no prefix here)", ja: "アドレスをそのまま書いてください(例: \"10.10.0.5\"。名前解決はせず、プレフィックスも付けません)" }
    E008_NO_ADDRESSES { en: "host {host} has no addresses", ja: "ホスト {host} に addresses がありません" }
    E008_NO_ADDRESSES_HINT { en: "add addresses = [\"10.10.0.5\"]", ja: "addresses = [\"10.10.0.5\"] を追加してください" }
    E009_ROUTER_OTHER_ZONE { en: "router {addr} of zone {zone} lies in zone {owner}", ja: "ゾーン {zone} のルーター {addr} はゾーン {owner} のネットワークにあります" }
    E009_ROUTER_OUTSIDE { en: "router {addr} is outside every network of zone {zone}", ja: "ルーター {addr} はゾーン {zone} のどのネットワークにも入っていません" }
    E009_ROUTER_HINT { en: "list a router under the zone whose network holds its address (the most specific network wins)", ja: "ルーターは、そのアドレスを含むネットワークのゾーンに書いてください(最も細かいネットワークが優先されます)" }
    E009_HOST_OTHER_ZONE { en: "address {addr} of host {host} lies in zone {owner}, not in zone {zone}", ja: "ホスト {host} のアドレス {addr} はゾーン {zone} ではなくゾーン {owner} にあります" }
    E009_HOST_OTHER_ZONE_HINT { en: "fix the address, or move the host to the zone whose network holds it (the most specific network wins)", ja: "アドレスを直すか、そのアドレスを含むネットワークのゾーンへホストを移してください(最も細かいネットワークが優先されます)" }
    E009_HOST_OUTSIDE { en: "address {addr} of host {host} is outside every network of zone {zone}", ja: "ホスト {host} のアドレス {addr} はゾーン {zone} のどのネットワークにも入っていません" }
    E009_HOST_OUTSIDE_HINT { en: "add the host's network to the zone's networks, or fix the address", ja: "ホストのネットワークをゾーンの networks に追加するか、アドレスを直してください" }

    // ---- E010: MAC ----------------------------------------------------------------------------------
    E010_NOT_MAC { en: "{value} is not a MAC address", ja: "{value} は MAC アドレスではありません" }
    E010_NOT_MAC_HINT { en: "write six hex bytes separated by ':' such as \"52:54:00:aa:00:10\"", ja: "16 進 6 バイトを ':' で区切って書いてください(例: \"52:54:00:aa:00:10\")" }

    // ---- E011/E012: ports ----------------------------------------------------------------------------
    E011_PORT_SPEC { en: "invalid port spec {value}: {why}", ja: "ポート指定 {value} が正しくありません: {why}" }
    E011_PORT_SPEC_HINT { en: "write tcp/443, udp/5000-5010, sctp/2905, icmp, icmp/echo-request or icmpv6", ja: "tcp/443、udp/5000-5010、sctp/2905、icmp、icmp/echo-request、icmpv6 のように書いてください" }
    E011_UNKNOWN_PROTOCOL { en: "unknown protocol {protocol}", ja: "プロトコル {protocol} はありません" }
    E011_BAD_PORT { en: "ports must be 1..=65535 and low <= high", ja: "ポートは 1..=65535 で、下限 <= 上限です" }
    E011_EXPECTED { en: "expected PROTO/PORT, PROTO/LOW-HIGH, icmp or icmpv6", ja: "PROTO/PORT、PROTO/LOW-HIGH、icmp、icmpv6 のいずれかの形で書いてください" }
    E012_ICMP_TYPE { en: "unknown {family} type {name}", ja: "{family} のタイプ {name} はありません" }
    E012_ICMP_TYPE_HINT { en: "use one of: {names}", ja: "次のいずれかを使ってください: {names}" }

    // ---- E013..E016: references ------------------------------------------------------------------------
    E013_UNKNOWN_SERVICE { en: "unknown service {name}", ja: "サービス {name} は宣言されていません" }
    E013_UNKNOWN_SERVICE_HINT { en: "declare it under [services] or use one of: {known}", ja: "[services] に宣言するか、次のいずれかを使ってください: {known}" }
    E014_UNKNOWN_ZONE { en: "unknown zone {name}", ja: "ゾーン {name} は宣言されていません" }
    E014_UNKNOWN_ZONE_HINT { en: "declare [zones.{zone}] or use one of: {known}", ja: "[zones.{zone}] を宣言するか、次のいずれかを使ってください: {known}" }
    E015_UNKNOWN_MEMBER { en: "unknown group member {name}", ja: "グループのメンバー {name} は宣言されていません" }
    E015_UNKNOWN_MEMBER_HINT { en: "members are host or group names declared in this file", ja: "members には、このファイルで宣言したホスト名かグループ名を書きます" }
    E015_UNKNOWN_END { en: "unknown {key} {name}: no zone, host or group has this name", ja: "{key} の {name} は不明です: その名前のゾーン・ホスト・グループはありません" }
    E015_UNKNOWN_END_HINT { en: "declare it, fix the spelling, or use \"gateway\" for the gateway itself", ja: "宣言するか綴りを直してください。ゲートウェイ自身なら \"gateway\" を使います" }
    E015_GATEWAY_TO_ITSELF { en: "flow {id} goes from the gateway to itself", ja: "フロー {id} はゲートウェイからゲートウェイ自身への通信です" }
    E015_GATEWAY_TO_ITSELF_HINT { en: "traffic inside the gateway (loopback) is always allowed; remove this flow", ja: "ゲートウェイ内部(ループバック)の通信は常に許可されます。このフローを削除してください" }
    E016_SERVICE_NO_PORTS { en: "service {name} lists no ports", ja: "サービス {name} にポートがありません" }
    E016_SERVICE_NO_PORTS_HINT { en: "write for example https = [\"tcp/443\"]", ja: "例: https = [\"tcp/443\"]" }
    E016_FLOW_NO_PORTS { en: "flow {id} names no services and no ports", ja: "フロー {id} に services も ports もありません" }
    E016_FLOW_NO_PORTS_HINT { en: "add services = [\"https\"] and/or ports = [\"tcp/8443\"]; a flow never means 'everything'", ja: "services = [\"https\"] や ports = [\"tcp/8443\"] を追加してください。フローが「すべて」を意味することはありません" }

    // ---- E017: families --------------------------------------------------------------------------------
    E017_NO_FAMILY { en: "flow {id} can carry no packet: its ends share no address family for its ports", ja: "フロー {id} はどのパケットも通せません: 両端に、そのポートで使える共通のアドレスファミリーがありません" }
    E017_NO_FAMILY_HINT { en: "give both ends addresses of the same family (IPv4 or IPv6), and use icmp for IPv4, icmpv6 for IPv6", ja: "両端に同じファミリー(IPv4 または IPv6)のアドレスを持たせ、IPv4 には icmp、IPv6 には icmpv6 を使ってください" }

    // ---- E018/E019/E024: gateways ------------------------------------------------------------------
    E018_INTERFACE_TWO_ZONES { en: "interface {interface} is in zone {other} and zone {zone} on gateway {gateway}", ja: "ゲートウェイ {gateway} のインターフェース {interface} がゾーン {other} とゾーン {zone} の両方にあります" }
    E018_INTERFACE_TWO_ZONES_HINT { en: "an interface belongs to exactly one zone", ja: "インターフェースはちょうど一つのゾーンに属します" }
    E019_INTERFACE_NAME { en: "{value} is not a usable interface name", ja: "{value} はインターフェース名として使えません" }
    E019_INTERFACE_NAME_HINT { en: "interface names are 1 to 15 bytes of letters, digits, '.', '_' or '-', and not \"lo\"", ja: "インターフェース名は英数字と '.'、'_'、'-' の 1〜15 バイトで、\"lo\" は使えません" }
    E024_DHCP_CLIENT { en: "dhcp_client names {value}, which is not an interface of this gateway", ja: "dhcp_client の {value} はこのゲートウェイのインターフェースではありません" }
    E024_DHCP_CLIENT_HINT { en: "list the interface under interfaces first", ja: "先にそのインターフェースを interfaces に書いてください" }

    // ---- E020: settings ------------------------------------------------------------------------------
    E020_NO_POLICY { en: "missing [policy] table", ja: "[policy] テーブルがありません" }
    E020_NO_POLICY_HINT { en: "add [policy] with at least name = \"...\"", ja: "少なくとも name = \"...\" を持つ [policy] を追加してください" }
    E020_NO_POLICY_NAME { en: "[policy] needs a name", ja: "[policy] に name が必要です" }
    E020_NO_POLICY_NAME_HINT { en: "add name = \"your-organisation\"", ja: "name = \"団体名\" を追加してください" }
    E020_PROFILE { en: "unknown profile {value}", ja: "profile {value} はありません" }
    E020_PROFILE_HINT { en: "use \"three-tier\" (三層の対策 guardrails) or \"none\"", ja: "\"three-tier\"(三層の対策のガードレール)か \"none\" を使ってください" }
    E020_NETWORK_MODEL { en: "unknown network_model {value}", ja: "network_model {value} はありません" }
    E020_NETWORK_MODEL_HINT { en: "use alpha, alpha-prime, beta or beta-prime", ja: "alpha、alpha-prime、beta、beta-prime のいずれかを使ってください" }
    E020_TIMEZONE { en: "{value} is not a time zone name", ja: "{value} はタイムゾーン名ではありません" }
    E020_TIMEZONE_HINT { en: "use an IANA name such as \"Asia/Tokyo\"", ja: "\"Asia/Tokyo\" のような IANA の名前を使ってください(tzdata パッケージが必要です)" }
    E020_UNKNOWN_TIMEZONE { en: "unknown time zone {zone}: {why}", ja: "タイムゾーン {zone} が見つかりません: {why}" }
    E020_UNKNOWN_TIMEZONE_HINT { en: "use an IANA time zone name such as \"Asia/Tokyo\" (needs the tzdata package)", ja: "\"Asia/Tokyo\" のような IANA のタイムゾーン名を使ってください(tzdata パッケージが必要です)" }
    E020_INTRA_ZONE { en: "intra_zone must be \"accept\" or \"drop\", not {value}", ja: "intra_zone は \"accept\" か \"drop\" です({value} は使えません)" }
    E020_INTRA_ZONE_HINT { en: "\"accept\" lets two interfaces of one zone talk; \"drop\" needs flows for that", ja: "\"accept\" は同じゾーンの二つのインターフェース間の通信を許可し、\"drop\" ではそのためのフローが必要です" }
    E020_LOG_GROUP { en: "log group {value} is outside 0..=65535", ja: "ログのグループ番号 {value} が 0..=65535 の範囲外です" }
    E020_LOG_GROUP_HINT { en: "pick an NFLOG group number no other program on the gateway uses", ja: "ゲートウェイ上のほかのプログラムが使っていない NFLOG グループ番号を選んでください" }
    E020_LOG_RATE { en: "log rate {value} is not N/second|minute|hour|day", ja: "ログのレート {value} が N/second|minute|hour|day の形ではありません" }
    E020_LOG_RATE_HINT { en: "write for example rate = \"20/second\"", ja: "例: rate = \"20/second\"" }
    E020_LOG_BURST { en: "log burst {value} is outside 1..=100000", ja: "ログのバースト {value} が 1..=100000 の範囲外です" }
    E020_LOG_BURST_HINT { en: "write for example burst = 50", ja: "例: burst = 50" }
    E020_KEY_TABLE { en: "log key_table {value} is outside 16..=1048576", ja: "ログの key_table {value} が 16..=1048576 の範囲外です" }
    E020_KEY_TABLE_HINT { en: "the default is 65536 keys per family and class; write for example key_table = 65536", ja: "既定値はファミリーと区分ごとに 65536 キーです。例: key_table = 65536" }
    E020_MAX_PORT_RANGE { en: "max_port_range {value} is outside 1..=65535", ja: "max_port_range {value} が 1..=65535 の範囲外です" }
    E020_MAX_PORT_RANGE_HINT { en: "the default is 16", ja: "既定値は 16 です" }
    E020_ZONE_ROLE { en: "unknown zone role {value}", ja: "ゾーンのロール {value} はありません" }
    E020_ZONE_ROLE_HINT { en: "use mynumber, lgwan, internet or external, or leave role out for a generic zone", ja: "mynumber、lgwan、internet、external のいずれかを使うか、汎用ゾーンなら role を書かないでください" }
    E020_ISOLATION { en: "unknown isolation {value}", ja: "isolation {value} はありません" }
    E020_ISOLATION_HINT { en: "use \"mynumber-like\" or \"critical\"", ja: "\"mynumber-like\" か \"critical\" を使ってください" }
    E020_HOST_NO_ZONE { en: "host {host} has no zone", ja: "ホスト {host} に zone がありません" }
    E020_HOST_NO_ZONE_HINT { en: "add zone = \"<zone name>\"", ja: "zone = \"<ゾーン名>\" を追加してください" }
    E020_HOST_ROLE { en: "unknown host role {value}", ja: "ホストのロール {value} はありません" }
    E020_HOST_ROLE_HINT { en: "use mail-relay, screen-transfer, file-sanitizer, update-relay or cloud-service", ja: "mail-relay、screen-transfer、file-sanitizer、update-relay、cloud-service のいずれかを使ってください" }
    E020_FLOW_NO_END { en: "flow {id} has no `{key}`", ja: "フロー {id} に `{key}` がありません" }
    E020_FLOW_NO_END_HINT { en: "name a zone, host or group, or \"gateway\"", ja: "ゾーン・ホスト・グループの名前か \"gateway\" を書いてください" }
    E020_FLOW_NO_ID { en: "flow has no id", ja: "フローに id がありません" }
    E020_FLOW_NO_ID_HINT { en: "add id = \"F-001\" (unique)", ja: "id = \"F-001\" を追加してください(重複不可)" }

    // ---- E021: groups ------------------------------------------------------------------------------
    E021_NO_MEMBERS { en: "group {name} has no members", ja: "グループ {name} にメンバーがいません" }
    E021_NO_MEMBERS_HINT { en: "list hosts or groups in members = [...]", ja: "members = [...] にホストかグループを書いてください" }
    E021_LOOP { en: "group {name} contains itself through nested groups", ja: "グループ {name} が入れ子のグループを通じて自分自身を含んでいます" }
    E021_LOOP_HINT { en: "remove the nesting loop", ja: "入れ子の循環をなくしてください" }
    E021_ZONES { en: "group {name} spans zones {zones}", ja: "グループ {name} が複数のゾーン({zones})にまたがっています" }
    E021_ZONES_HINT { en: "all members of a group lie in one zone; split it into one group per zone", ja: "グループのメンバーは一つのゾーンに属します。ゾーンごとのグループに分けてください" }

    // ---- E022/E023: dates and text ---------------------------------------------------------------------
    E022_DATE { en: "expires {value} is not a date", ja: "expires {value} は日付ではありません" }
    E022_DATE_HINT { en: "write expires = \"2027-03-31\" (inclusive, in the policy's time zone)", ja: "expires = \"2027-03-31\" のように書いてください(その日を含み、ポリシーのタイムゾーンで判定します)" }
    E023_TEXT { en: "{field} holds control characters or is longer than 512 bytes", ja: "{field} に制御文字があるか、512 バイトを超えています" }
    E023_TEXT_HINT { en: "use one line of plain text", ja: "1 行のふつうの文字列にしてください" }

    // ---- warnings --------------------------------------------------------------------------------------
    W001_INTRA { en: "flow {id} stays inside zone {zone}", ja: "フロー {id} はゾーン {zone} の内側で完結しています" }
    W001_INTRA_HINT { en: "traffic inside a zone follows policy.intra_zone; this flow only matters between two interfaces of the zone when intra_zone = \"drop\"", ja: "ゾーン内の通信は policy.intra_zone に従います。このフローが意味を持つのは intra_zone = \"drop\" のとき、同じゾーンの二つのインターフェース間だけです" }
    W002_NO_V6 { en: "zone {zone} has no IPv6 network: all IPv6 from it will be dropped as spoofed", ja: "ゾーン {zone} に IPv6 ネットワークがありません: このゾーンからの IPv6 はすべて詐称として破棄されます" }
    W002_NO_V6_HINT { en: "add its IPv6 prefix to networks if its hosts use IPv6 (link-local neighbour discovery still works)", ja: "ホストが IPv6 を使うなら networks に IPv6 プレフィックスを追加してください(リンクローカルの近隣探索はそのまま動きます)" }
    W003_MARK { en: "the connection mark of flow {id} collides with another flow; re-hashed ({attempts} attempts)", ja: "フロー {id} のコネクションマークが別のフローと衝突したため再計算しました({attempts} 回)" }
    W003_MARK_HINT { en: "harmless: marks stay stable; renaming the flow id avoids the re-hash", ja: "影響はありません(マークは安定しています)。フロー ID を変えると再計算はなくなります" }
    W004_EXPIRED { en: "flow {id} expired on {date}; it is not compiled", ja: "フロー {id} は {date} に期限切れとなったため、コンパイルされません" }
    W004_EXPIRED_HINT { en: "remove the flow, or renew it with a new expires date and approval", ja: "フローを削除するか、新しい expires と承認で更新してください" }
    W005_EXPIRES_SOON { en: "flow {id} expires on {date} ({days} days left)", ja: "フロー {id} は {date} に期限切れになります(残り {days} 日)" }
    W005_EXPIRES_SOON_HINT { en: "renew it before then if it is still needed", ja: "まだ必要なら、それまでに更新してください" }

    // ---- guardrails (G0xx): phrases -------------------------------------------------------
    SIDE_INTERNET { en: "internet-connected", ja: "インターネット接続系" }
    SIDE_EXTERNAL { en: "external (Internet)", ja: "外部(インターネット)" }
    SIDE_MYNUMBER { en: "My Number", ja: "マイナンバー利用事務系" }
    SIDE_CRITICAL { en: "critical", ja: "重要系" }
    SIDE_LGWAN { en: "LGWAN", ja: "LGWAN接続系" }
    SIDE_OTHER { en: "generic", ja: "汎用" }
    PHRASE_THE_GATEWAY { en: "the gateway", ja: "ゲートウェイ" }
    PHRASE_AND { en: "{a} and {b}", ja: "{a} と {b}" }
    PHRASE_NO_PORTS { en: "no ports", ja: "ポートなし" }
    PHRASE_DECLARES { en: "{host} declares {ports}", ja: "{host} の宣言は {ports}" }
    PHRASE_MN_ZONE { en: "My Number zone {zone}", ja: "マイナンバー利用事務系ゾーン {zone}" }
    PHRASE_MN_LIKE_ZONE { en: "zone {zone} (isolation = \"mynumber-like\")", ja: "ゾーン {zone}(isolation = \"mynumber-like\")" }
    PHRASE_BIG_GROUP { en: "group {group} of {n} hosts (more than {max})", ja: "{n} 台のホストからなるグループ {group}({max} 台超)" }
    PHRASE_ONE_ZONE { en: "zone {zones}", ja: "ゾーン {zones}" }
    PHRASE_ZONES { en: "zones {zones}", ja: "ゾーン {zones}" }
    PHRASE_ZONE_UNPINNED { en: "zone {zone} as a whole cannot be pinned", ja: "ゾーン {zone} 全体は経路を固定できず" }
    PHRASE_HOST_UNPINNED { en: "host {hosts} has no MAC pin", ja: "ホスト {hosts} に MAC アドレスの固定がなく" }
    PHRASE_HOSTS_UNPINNED { en: "hosts {hosts} have no MAC pin", ja: "ホスト {hosts} に MAC アドレスの固定がなく" }
    PHRASE_STRICT_MAC { en: " (policy.strict_mac = true)", ja: "(policy.strict_mac = true のためエラー)" }
    WHY_FROM_INTERNET_SIDE { en: "the connection is opened from the Internet side", ja: "接続がインターネット側から開始されます" }
    WHY_WHOLE_ZONE_DESTINATION { en: "its destination is the whole zone {zone}", ja: "宛先がゾーン {zone} 全体です" }
    WHY_NOT_CLOUD_SERVICE { en: "{hosts} has no role = \"cloud-service\"", ja: "{hosts} に role = \"cloud-service\" がありません" }
    WHY_NO_RELAY { en: "neither end is a host with a relay role", ja: "どちらの端も中継ロールを持つホストではありません" }
    WHY_RELAY_PORTS { en: "it uses {ports}, outside the relay's declared ports ({serves})", ja: "中継ホストの宣言ポート({serves})以外の {ports} を使います" }
    WHY_ST_NOT_HOST_DEST { en: "the flow's destination must be a screen-transfer host in the My Number zone, not {to}", ja: "宛先は {to} ではなく、マイナンバー利用事務系ゾーンの画面転送ホストである必要があります" }
    WHY_ST_NOT_A_HOST { en: "{host} is not a host", ja: "{host} はホストではありません" }
    WHY_ST_NO_ROLE { en: "{host} has no role = \"screen-transfer\"", ja: "{host} に role = \"screen-transfer\" がありません" }
    WHY_ST_NOT_MN { en: "{host} is not in a My Number zone", ja: "{host} はマイナンバー利用事務系ゾーンにありません" }
    WHY_ST_NOT_FROM_LGWAN { en: "the connection must be opened from the LGWAN side", ja: "接続は LGWAN 側から開始される必要があります" }
    WHY_ST_NO_PORTS { en: "{host} declares no ports = [...]", ja: "{host} に ports = [...] の宣言がありません" }
    WHY_ST_PORTS { en: "{host} declares {declared} and the flow uses {used}", ja: "{host} の宣言は {declared} ですが、フローは {used} を使います" }

    // ---- guardrails: findings ------------------------------------------------------------
    G070_NO_ROLES { en: "profile \"three-tier\", but no zone has a role (mynumber, lgwan, internet, external): only the approval guardrails can apply {cite}", ja: "profile は \"three-tier\" ですが、ロール(mynumber、lgwan、internet、external)を持つゾーンがないため、承認に関するガードレールしか適用できません {cite}" }
    G070_NO_ROLES_HINT { en: "set role = \"mynumber\" | \"lgwan\" | \"internet\" | \"external\" on the zones, or profile = \"none\" for generic zoning", ja: "各ゾーンに role = \"mynumber\" | \"lgwan\" | \"internet\" | \"external\" を設定するか、汎用のゾーン分けなら profile = \"none\" にしてください" }
    G070_MISSING_ROLES { en: "profile \"three-tier\", but no zone has role {roles} {cite}", ja: "profile は \"three-tier\" ですが、ロール {roles} を持つゾーンがありません {cite}" }
    G070_MISSING_ROLES_HINT { en: "fine when the organisation has no such domain (a small union may have no My Number zone); otherwise set the role on its zone", ja: "その領域を持たない団体なら問題ありません(小規模な組合にはマイナンバー利用事務系がないこともあります)。そうでなければ該当ゾーンにロールを設定してください" }
    G071 { en: "zone {zone} is on the internet side (role {role}) and declares isolation = \"{isolation}\", which contradict each other {cite}", ja: "ゾーン {zone} はインターネット側(role {role})なのに isolation = \"{isolation}\" を宣言しており、矛盾しています {cite}" }
    G071_HINT { en: "an internet-connected or external zone cannot be isolated: remove isolation, or the role", ja: "インターネット接続系・外部のゾーンは分離指定できません。isolation かロールを削除してください" }
    G020 { en: "flow {id} crosses from {from} to {to} without {missing} {cite}", ja: "フロー {id} は {from} から {to} へ境界を越えますが、{missing} がありません {cite}" }
    G020_HINT { en: "add purpose = \"...\" (the business reason) and approved_by = \"...\" (who approved it)", ja: "purpose = \"...\"(業務上の理由)と approved_by = \"...\"(承認者)を追加してください" }
    G001 { en: "flow {id} connects {mn} with {side} zone {other}: the My Number domain is cut off from the internet side {cite}", ja: "フロー {id} は {mn} と{side}ゾーン {other} を接続しています: マイナンバー利用事務系はインターネット側から分離されています {cite}" }
    G001_HINT { en: "remove this flow; internet-originated data may reach the My Number domain only as 特定通信 approved by the State (e.g. eLTAX), never over a route from the internet side", ja: "このフローを削除してください。インターネット由来のデータがマイナンバー利用事務系に届くのは国が認めた特定通信(eLTAX など)だけで、インターネット側からの経路は認められません" }
    G010 { en: "flow {id} on a My Number boundary allows {ports}: ports must be explicit (ranges of at most {max} ports, named ICMP types) {cite}", ja: "マイナンバー利用事務系の境界のフロー {id} が {ports} を許可しています: ポートは明示が必要です(範囲は最大 {max} ポート、ICMP はタイプ名で) {cite}" }
    G010_HINT { en: "list the exact ports the application uses, e.g. tcp/443; policy.max_port_range sets the widest range allowed", ja: "アプリケーションが使うポートを正確に書いてください(例: tcp/443)。許可する範囲の最大幅は policy.max_port_range で決まります" }
    G011 { en: "flow {id}: its My Number-side end is {width}; the My Number side must be a single host or a group of at most {max} {cite}", ja: "フロー {id}: マイナンバー利用事務系側の端が {width} です。マイナンバー側は単一ホストか {max} 台以下のグループでなければなりません {cite}" }
    G011_HINT { en: "name the host (or a small group of hosts) that takes part in this 特定通信", ja: "この特定通信に関わるホスト(または少数のホストのグループ)を指定してください" }
    G012 { en: "flow {id}: its other end is {width}; it must be a single host or a group of at most {max} {cite}", ja: "フロー {id}: 相手側の端が {width} です。単一ホストか {max} 台以下のグループでなければなりません {cite}" }
    G012_HINT { en: "name the hosts; many LGWAN terminals may reach the My Number domain only by screen transfer {cite}: {why}", ja: "ホストを指定してください。多数の LGWAN 端末からマイナンバー利用事務系へは画面転送でのみ接続できます {cite}: {why}" }
    G013 { en: "flow {id} crosses a {kind} boundary, but {what} and the flow states no l2_control{strict} {cite}", ja: "フロー {id} は{kind}の境界を越えますが、{what}、フローに l2_control もありません{strict} {cite}" }
    G013_HINT { en: "add mac = \"...\" to the host (enforced on the gateway interface where it is adjacent), or state where the path is pinned instead: l2_control = \"port-security\" or \"802.1x\"", ja: "ホストに mac = \"...\" を追加する(隣接するゲートウェイのインターフェースで強制されます)か、経路を固定している場所を l2_control = \"port-security\" または \"802.1x\" で示してください" }
    G021 { en: "flow {id} touches {kind} zone {zone} but has no expires {cite}", ja: "フロー {id} は{kind}ゾーン {zone} に関わりますが、expires がありません {cite}" }
    G021_HINT { en: "add expires = \"YYYY-MM-DD\" (inclusive) so the flow is reviewed and renewed; past it the flow is not compiled", ja: "expires = \"YYYY-MM-DD\"(その日を含む)を追加し、見直しと更新の対象にしてください。期限を過ぎたフローはコンパイルされません" }
    G030 { en: "flow {id} between LGWAN and the internet-connected zone names the whole zone {zone}: both ends must be hosts or groups {cite}", ja: "LGWAN接続系とインターネット接続系の間のフロー {id} がゾーン {zone} 全体を指定しています: 両端はホストかグループでなければなりません {cite}" }
    G030_HINT { en: "name the sanitising host (mail-relay, screen-transfer, file-sanitizer, update-relay) and the hosts or group it serves", ja: "無害化ホスト(mail-relay、screen-transfer、file-sanitizer、update-relay)と、それが扱うホストまたはグループを指定してください" }
    G031 { en: "flow {id} connects LGWAN and the internet-connected zone terminal to terminal: neither {from} nor {to} is a sanitising host {cite}", ja: "フロー {id} は LGWAN接続系とインターネット接続系を端末同士で直接つないでいます: {from} も {to} も無害化ホストではありません {cite}" }
    G031_HINT { en: "route it through a host with role = \"mail-relay\", \"screen-transfer\", \"file-sanitizer\" or \"update-relay\", and declare that host's ports", ja: "role = \"mail-relay\"、\"screen-transfer\"、\"file-sanitizer\"、\"update-relay\" のホストを経由させ、そのホストのポートを宣言してください" }
    G032 { en: "flow {id} uses {ports} outside the sanitiser's declared ports ({serves}) {cite}", ja: "フロー {id} が無害化ホストの宣言ポート({serves})以外の {ports} を使っています {cite}" }
    G032_HINT { en: "limit the flow to the ports the sanitising host serves, or add the port to its ports = [...] if its role really serves it", ja: "フローを無害化ホストが扱うポートに限るか、そのロールが本当に扱うなら ports = [...] にポートを追加してください" }
    G040 { en: "flow {id} connects LGWAN zone {lgwan} with the Internet zone {internet}, which only network_model = \"alpha-prime\" allows (this policy is \"{model}\") {cite}", ja: "フロー {id} は LGWAN接続系ゾーン {lgwan} とインターネットゾーン {internet} を接続していますが、これは network_model = \"alpha-prime\" でのみ認められます(このポリシーは \"{model}\") {cite}" }
    G040_HINT { en: "LGWAN reaches the Internet only through the internet-connected zone's sanitisers; for α′ local breakout set network_model = \"alpha-prime\" and name the cloud-service hosts", ja: "LGWAN接続系からインターネットへはインターネット接続系の無害化ホスト経由でのみ接続します。α′ のローカルブレイクアウトなら network_model = \"alpha-prime\" とし、cloud-service ホストを指定してください" }
    G041 { en: "flow {id}: under alpha-prime, LGWAN may open connections to the Internet only to hosts or groups with role = \"cloud-service\"; {why} {cite}", ja: "フロー {id}: α′ モデルでは、LGWAN接続系からインターネットへ接続できるのは role = \"cloud-service\" のホストかグループだけです。{why} {cite}" }
    G041_HINT { en: "declare each cloud service's addresses as a host with role = \"cloud-service\" in the external zone and make it the flow's `to`", ja: "各クラウドサービスのアドレスを外部ゾーンの role = \"cloud-service\" のホストとして宣言し、フローの `to` にしてください" }
    G060 { en: "flow {id} connects critical zone {zone} with {side} zone {other} not through a declared relay: {why} {cite}", ja: "フロー {id} は重要系ゾーン {zone} と{side}ゾーン {other} を、宣言された中継ホストを経由せずに接続しています: {why} {cite}" }
    G060_HINT { en: "pass internet feeds (e.g. Net119) through a host with role = \"file-sanitizer\", \"mail-relay\", \"screen-transfer\" or \"update-relay\", on the ports it declares", ja: "インターネットからの情報(Net119 など)は role = \"file-sanitizer\"、\"mail-relay\"、\"screen-transfer\"、\"update-relay\" のホストを、その宣言ポートで経由させてください" }
    G050 { en: "flow {id} lets the {side} zone {zone} reach the gateway itself {cite}", ja: "フロー {id} により{side}ゾーン {zone} からゲートウェイ自身へ接続できてしまいます {cite}" }
    G050_HINT { en: "manage the gateway from a host in LGWAN or a management zone; the gateway enforces the My Number boundary and must not be reachable from the internet side", ja: "ゲートウェイは LGWAN接続系か管理用ゾーンのホストから管理してください。ゲートウェイはマイナンバー利用事務系の境界を守るため、インターネット側から到達できてはなりません" }
    G090 { en: "flow {id} is a declared exception to G052 (gateway {gateways} opens connections into {side} zone {zone}): {reason} (approved by {approver}, until {until}) {cite}", ja: "フロー {id} は G052 の例外として宣言されています(ゲートウェイ {gateways} から{side}ゾーン {zone} へ接続): {reason}(承認者 {approver}、期限 {until}) {cite}" }
    G090_HINT { en: "exceptions are listed in every report; renew or remove it before it expires", ja: "例外はすべての報告書に記載されます。期限までに更新するか削除してください" }
    G052 { en: "flow {id} lets gateway {gateways}, which has an interface in the My Number domain, open connections into {side} zone {zone} {cite}", ja: "フロー {id} により、マイナンバー利用事務系にインターフェースを持つゲートウェイ {gateways} から{side}ゾーン {zone} へ接続できてしまいます {cite}" }
    G052_HINT { en: "send alerts, time and name lookups to LGWAN-side hosts; if it cannot be avoided, declare exception = \"reason\" with approved_by and expires", ja: "アラート、時刻同期、名前解決は LGWAN 側のホストへ送ってください。避けられない場合は exception = \"理由\" を approved_by と expires とともに宣言してください" }
    G091 { en: "flow {id} declares the exception {reason} without {missing} {cite}", ja: "フロー {id} は例外 {reason} を宣言していますが、{missing} がありません {cite}" }
    G091_HINT { en: "an exception needs approved_by (who accepted the risk) and expires (when it is reviewed)", ja: "例外には approved_by(リスクを受け入れた人)と expires(見直しの期日)が必要です" }
    G092 { en: "flow {id} declares the exception {reason}, but no guardrail that accepts exceptions applies to it; it has no effect {cite}", ja: "フロー {id} は例外 {reason} を宣言していますが、例外を受け付けるガードレールが該当しないため効果がありません {cite}" }
    G092_HINT { en: "only G052 (the gateway's own connections into the internet side) can be excepted; remove exception = ...", ja: "例外にできるのは G052(ゲートウェイ自身からインターネット側への接続)だけです。exception = ... を削除してください" }
    G051 { en: "gateway {gateway} joins My Number {mn} and internet-side {inet} but declares no management flow (to = \"gateway\") {cite}", ja: "ゲートウェイ {gateway} はマイナンバー利用事務系の{mn}とインターネット側の{inet}をつないでいますが、管理用のフロー(to = \"gateway\")が宣言されていません {cite}" }
    G051_HINT { en: "declare the management path, e.g. a flow from the administrator's host in LGWAN to \"gateway\" with ssh; without one the gateway accepts no management connection", ja: "管理経路を宣言してください(例: LGWAN接続系の管理者ホストから \"gateway\" への ssh のフロー)。宣言がないとゲートウェイは管理接続を一切受け付けません" }
    G002 { en: "flows join the My Number domain with the {side} side through {via}: {path} {cite}", ja: "複数のフローが {via} を介してマイナンバー利用事務系と{side}側をつないでいます: {path} {cite}" }
    G002_HINT { en: "a host that exchanges data with the My Number domain, in either direction, must not exchange data with the internet side: remove one of these flows, or reach the My Number domain only by screen transfer to a declared screen-transfer host", ja: "マイナンバー利用事務系と(どちら向きでも)データをやり取りするホストは、インターネット側とデータをやり取りしてはなりません。これらのフローのどれかを削除するか、マイナンバー利用事務系へは宣言された画面転送ホストへの画面転送でのみ接続してください" }
    G003 { en: "zone {zone} joins the My Number domain with the {side} side through intra-zone traffic, which gateway {gateways} accepts between the zone's interfaces: {path} {cite}", ja: "ゾーン {zone} がゾーン内通信を介してマイナンバー利用事務系と{side}側をつないでいます(ゲートウェイ {gateways} がゾーンのインターフェース間の通信を許可しています): {path} {cite}" }
    G003_HINT { en: "set intra_zone = \"drop\" and declare the intra-zone flows the zone needs, or put the hosts that talk to the My Number domain in a zone of their own", ja: "intra_zone = \"drop\" にしてゾーンに必要なゾーン内フローを宣言するか、マイナンバー利用事務系と通信するホストを専用のゾーンに分けてください" }

    // ---- zonegate explain -------------------------------------------------------------------
    EXPLAIN_HEADER { en: "gateway {gateway}: new connection {src} → {dst}{packet} ({hook})", ja: "ゲートウェイ {gateway}: 新しい接続 {src} → {dst}{packet}({hook})" }
    EXPLAIN_HOOK_FORWARD { en: "forwarded", ja: "転送" }
    EXPLAIN_HOOK_INPUT { en: "to the gateway itself", ja: "ゲートウェイ自身宛て" }
    EXPLAIN_HOOK_OUTPUT { en: "from the gateway itself", ja: "ゲートウェイ自身から" }
    EXPLAIN_LABEL_SOURCE { en: "source", ja: "送信元" }
    EXPLAIN_LABEL_DESTINATION { en: "destination", ja: "宛先" }
    EXPLAIN_LABEL_VERDICT { en: "verdict", ja: "判定" }
    EXPLAIN_LABEL_BECAUSE { en: "because", ja: "理由" }
    EXPLAIN_IN_ON { en: "in on", ja: "受信" }
    EXPLAIN_OUT_ON { en: "out on", ja: "送信" }
    EXPLAIN_THE_GATEWAY_ITSELF { en: "the gateway itself", ja: "ゲートウェイ自身" }
    EXPLAIN_ADDR_HOST { en: "{addr} (host {host})", ja: "{addr}(ホスト {host})" }
    EXPLAIN_DELIVERED_TO_GATEWAY { en: ", delivered to the gateway itself", ja: "、ゲートウェイ自身に配送" }
    EXPLAIN_IN_ZONE_LABEL { en: ", zone {zone} ({label})", ja: "、ゾーン {zone}({label})" }
    EXPLAIN_IN_ZONE { en: ", zone {zone}", ja: "、ゾーン {zone}" }
    EXPLAIN_IN_NO_ZONE { en: ", in no zone", ja: "、どのゾーンにも属さない" }
    EXPLAIN_ON_INTERFACE { en: ", {dir} {interface}", ja: "、{interface} で{dir}" }
    EXPLAIN_VERDICT_ACCEPT { en: "accept", ja: "accept(許可)" }
    EXPLAIN_VERDICT_DROP { en: "drop", ja: "drop(破棄)" }
    EXPLAIN_VERDICT_SPOOFED { en: "spoofed", ja: "spoofed(詐称として破棄)" }
    EXPLAIN_VERDICT_PARTIAL { en: "partial", ja: "partial(一部のポートのみ許可)" }
    EXPLAIN_BECAUSE_FLOW { en: "flow {id} permits it", ja: "フロー {id} が許可しています" }
    EXPLAIN_BECAUSE_INTRA { en: "traffic inside zone {zone} is accepted (intra_zone = \"accept\")", ja: "ゾーン {zone} 内の通信は許可されます(intra_zone = \"accept\")" }
    EXPLAIN_BECAUSE_ESSENTIAL { en: "the gateway always passes {what}", ja: "ゲートウェイは{what}を常に通します" }
    EXPLAIN_BECAUSE_LOOPBACK { en: "loopback traffic is always allowed", ja: "ループバックの通信は常に許可されます" }
    EXPLAIN_BECAUSE_BROADCAST { en: "dropped and counted, not logged: {what}", ja: "破棄して数えますが、ログには残しません: {what}" }
    EXPLAIN_BECAUSE_NO_FLOW_PACKET { en: "no flow permits {from} → {to} for this packet ({packet})", ja: "このパケット({packet})について {from} → {to} を許可するフローがありません" }
    EXPLAIN_BECAUSE_NO_FLOW { en: "no flow permits {from} → {to} for these addresses", ja: "これらのアドレスについて {from} → {to} を許可するフローがありません" }
    EXPLAIN_BECAUSE_SPOOFED_ZONE { en: "source {src} belongs to zone {zone}, but arrives on {interface} (zone {interface_zone}): dropped as spoofed before connection tracking", ja: "送信元 {src} はゾーン {zone} に属しますが {interface}(ゾーン {interface_zone})から届いたため、コネクション追跡の前に詐称として破棄されます" }
    EXPLAIN_BECAUSE_SPOOFED_NO_ZONE { en: "source {src} lies in no zone, so it is spoofed on {interface} (zone {interface_zone}) and everywhere else", ja: "送信元 {src} はどのゾーンにも属さないため、{interface}(ゾーン {interface_zone})でもほかのどこでも詐称とみなされます" }
    EXPLAIN_BECAUSE_SPOOFED { en: "source {src} is spoofed", ja: "送信元 {src} は詐称されています" }
    EXPLAIN_BECAUSE_UNKNOWN_INTERFACE { en: "interface {interface} is in no zone of gateway {gateway}: it carries nothing", ja: "インターフェース {interface} はゲートウェイ {gateway} のどのゾーンにも属さないため、何も通しません" }
    EXPLAIN_BECAUSE_SOURCE_NOT_ON_GATEWAY { en: "zone {zone} has no interface on gateway {gateway}: a packet from it arrives on another zone's interface and is dropped as spoofed", ja: "ゾーン {zone} はゲートウェイ {gateway} にインターフェースを持ちません: そこからのパケットは別のゾーンのインターフェースに届き、詐称として破棄されます" }
    EXPLAIN_BECAUSE_DEST_NOT_ON_GATEWAY { en: "zone {zone} has no interface on gateway {gateway}: this gateway does not reach it", ja: "ゾーン {zone} はゲートウェイ {gateway} にインターフェースを持ちません: このゲートウェイからは届きません" }
    EXPLAIN_BECAUSE_SOURCE_NO_ZONE { en: "the source address lies in no zone: it is dropped as spoofed on every interface", ja: "送信元アドレスはどのゾーンにも属さないため、すべてのインターフェースで詐称として破棄されます" }
    EXPLAIN_BECAUSE_DEST_NO_ZONE { en: "the destination address lies in no zone: name an egress interface with --oif", ja: "宛先アドレスはどのゾーンにも属しません: --oif で出口のインターフェースを指定してください" }
    EXPLAIN_BECAUSE_PORTS { en: "only these ports pass; everything else is dropped:", ja: "次のポートだけが通り、それ以外は破棄されます:" }
    EXPLAIN_FLOW_PURPOSE { en: "purpose:     ", ja: "目的:     " }
    EXPLAIN_FLOW_APPROVED_BY { en: "approved by: ", ja: "承認者:   " }
    EXPLAIN_FLOW_EXPIRES { en: "expires:     ", ja: "有効期限: " }
    EXPLAIN_FLOW_EXPIRED { en: " (expired: not compiled)", ja: "(期限切れ: コンパイルされません)" }
    EXPLAIN_FLOW_INCLUSIVE { en: " (inclusive)", ja: "(当日を含む)" }
    EXPLAIN_PASSES { en: "{id} passes {ports}", ja: "{id} が {ports} を通します" }
    EXPLAIN_NEAREST { en: "nearest flows:", ja: "近いフロー:" }
    EXPLAIN_NEAREST_NONE { en: "nearest flows: none in this direction between these zones", ja: "近いフロー: これらのゾーン間のこの向きにはありません" }
    EXPLAIN_NOTE { en: "note: ", ja: "注: " }
    EXPLAIN_MORE { en: "{n} more", ja: "ほか {n} 件" }
    EXPLAIN_HOST_ADDRS { en: "host {name} ({addrs})", ja: "ホスト {name}({addrs})" }
    EXPLAIN_GROUP_ADDRS { en: "group {name} ({addrs})", ja: "グループ {name}({addrs})" }
    EXPLAIN_DIFF_SOURCE { en: "source {addr} is not {end}", ja: "送信元 {addr} は {end} ではありません" }
    EXPLAIN_DIFF_DESTINATION { en: "destination {addr} is not {end}", ja: "宛先 {addr} は {end} ではありません" }
    EXPLAIN_DIFF_PORTS { en: "it permits {ports}, not {packet}", ja: "許可しているのは {ports} で、{packet} ではありません" }
    EXPLAIN_DIFF_ONLY_PORTS { en: "it permits only {ports}", ja: "許可しているのは {ports} だけです" }
    EXPLAIN_DIFF_EXPIRED { en: "it expired on {date} and is not compiled", ja: "{date} に期限切れとなり、コンパイルされていません" }
    EXPLAIN_DIFF_REVERSE { en: "it permits the opposite direction: connections are opened from {from} to {to}", ja: "逆向きを許可しています: 接続は {from} から {to} へ開始されます" }
    EXPLAIN_NOTE_LINK_LOCAL { en: "{src} is IPv6 link-local: it passes the anti-spoof check on every interface", ja: "{src} は IPv6 リンクローカルアドレスのため、どのインターフェースでも詐称チェックを通ります" }
    EXPLAIN_NOTE_UNSPECIFIED { en: ":: passes the anti-spoof check for duplicate address detection and MLD", ja: ":: は重複アドレス検出と MLD のために詐称チェックを通ります" }
    EXPLAIN_NOTE_MAC_PIN { en: "{src} is host {host} pinned to MAC {mac} on {iif}: from any other MAC it is dropped as spoofed", ja: "{src} は {iif} で MAC {mac} に固定されたホスト {host} です: ほかの MAC からは詐称として破棄されます" }
    EXPLAIN_NOTE_OVERLAP_ONE { en: "{flows} also covers this packet; where flows overlap the first id decides", ja: "{flows} もこのパケットに該当します。フローが重なる場合は ID の若いものが決めます" }
    EXPLAIN_NOTE_OVERLAP_MANY { en: "{flows} also cover this packet; where flows overlap the first id decides", ja: "{flows} もこのパケットに該当します。フローが重なる場合は ID の若いものが決めます" }
    EXPLAIN_NOTE_OTHER_ZONE { en: "{dst} belongs to zone {zone}, but leaves through {oif} (zone {oz}): the gateway judges it by the interface's zone", ja: "{dst} はゾーン {zone} に属しますが {oif}(ゾーン {oz})から出ていきます: ゲートウェイはインターフェースのゾーンで判定します" }
    EXPLAIN_WHAT_DHCP_DISCOVERY { en: "DHCP discovery from 0.0.0.0", ja: "0.0.0.0 からの DHCP discover" }
    EXPLAIN_WHAT_BROADCAST { en: "{addr}: broadcast and multicast to the gateway are never management", ja: "{addr}: ゲートウェイ宛てのブロードキャストとマルチキャストは管理通信になりません" }
    EXPLAIN_WHAT_ND { en: "IPv6 neighbour discovery (hop limit 255)", ja: "IPv6 近隣探索(ホップリミット 255)" }
    EXPLAIN_WHAT_MLD_QUERY { en: "an MLD query from a link-local address", ja: "リンクローカルアドレスからの MLD クエリ" }
    EXPLAIN_WHAT_DHCP_REPLY { en: "a DHCP reply on a dhcp_client interface", ja: "dhcp_client インターフェースでの DHCP 応答" }
    EXPLAIN_WHAT_MLD_REPORT { en: "an MLD report", ja: "MLD レポート" }
    EXPLAIN_WHAT_DHCP_REQUEST { en: "a DHCP request on a dhcp_client interface", ja: "dhcp_client インターフェースでの DHCP 要求" }

    // ---- zonegate-agent plan ------------------------------------------------------------------
    PLAN_HEADER { en: "Gateway {gateway}: policy {policy} revision {revision} (ruleset sha256 {sha256})", ja: "ゲートウェイ {gateway}: ポリシー {policy} 改訂 {revision}(ルールセット sha256 {sha256})" }
    PLAN_APPROVED_BY { en: "Approved by: {signer} (signature verified)", ja: "承認者: {signer}(署名を検証済み)" }
    PLAN_LIVE_MISSING { en: "Live table: missing. Apply loads the whole ruleset (everything below is pending).", ja: "稼働中のテーブル: ありません。apply でルールセット全体を読み込みます(以下はすべて未適用です)。" }
    PLAN_LIVE_AS_LOADED { en: "Live table: as the agent last loaded it.", ja: "稼働中のテーブル: エージェントが最後に読み込んだとおりです。" }
    PLAN_LIVE_DRIFTED { en: "Live table: DIFFERS from what the agent last loaded ({n} change(s)); apply repairs:", ja: "稼働中のテーブル: エージェントが最後に読み込んだものと異なります({n} 件の変更)。apply で修復します:" }
    PLAN_LIVE_UNKNOWN { en: "Live table: present, but this agent has no record of loading it; apply replaces it.", ja: "稼働中のテーブル: ありますが、このエージェントが読み込んだ記録がありません。apply で置き換えます。" }
    PLAN_NONE { en: "none", ja: "なし" }
    PLAN_FLOWS_ADD { en: "Flows to add: {flows}", ja: "追加するフロー: {flows}" }
    PLAN_FLOWS_REVOKE { en: "Flows to revoke: {flows}", ja: "取り消すフロー: {flows}" }
    PLAN_FLOWS_CHANGE { en: "Flows to change: {flows}", ja: "変更するフロー: {flows}" }
    PLAN_CHAINS { en: "Chains: add {added}; remove {removed}", ja: "チェイン: 追加 {added}、削除 {removed}" }
    PLAN_SETS { en: "Sets and maps: add {added}; remove {removed}", ja: "セットとマップ: 追加 {added}、削除 {removed}" }
    PLAN_RULESET_LINES { en: "Ruleset lines that change (against the last-known-good):", ja: "変わるルールセットの行(最後の正常な状態との比較):" }
    PLAN_EXPIRIES_NONE { en: "Pending expiries: none", ja: "期限切れ予定: なし" }
    PLAN_EXPIRIES { en: "Pending expiries (removed at midnight after the date, policy time zone):", ja: "期限切れ予定(期日の翌日 0 時、ポリシーのタイムゾーンで削除):" }
    PLAN_EXPIRY { en: "  {flow} expires {date}", ja: "  {flow} の期限 {date}" }
    PLAN_EXPIRED { en: "Expired (not compiled): {flows}", ja: "期限切れ(コンパイルされません): {flows}" }
    PLAN_HASH { en: "Plan hash: {hash}", ja: "計画ハッシュ: {hash}" }
    PLAN_NOTHING_TO_DO { en: "Nothing to do.", ja: "変更はありません。" }
    PLAN_PENDING { en: "Changes pending: run `zonegate-agent apply --plan-hash {hash}` to apply exactly this.", ja: "未適用の変更があります: この内容のとおりに適用するには `zonegate-agent apply --plan-hash {hash}` を実行してください。" }
    PLAN_LOCKOUT { en: "LOCKOUT: the change cuts the management path {path}; `apply` refuses it unless --force, and then rolls it back unless confirmed", ja: "締め出し: この変更は管理経路 {path} を切断します。`apply` は --force なしでは拒否し、--force でも確認がなければ元に戻します" }
    PLAN_CUT_NONE { en: "Open connections cut: none", ja: "切断される接続: なし" }
    PLAN_CUT { en: "Open connections cut: {count} of {flow} (e.g. {examples})", ja: "切断される接続: {flow} の {count} 件(例: {examples})" }
    PLAN_CUT_UNREAD { en: "Open connections: not read ({error})", ja: "開いている接続: 読み取れませんでした({error})" }

    // ---- zonegate diff: labels ----------------------------------------------------------------------
    DIFF_TITLE { en: "Policy change diff", ja: "ポリシー変更の差分" }
    DIFF_ITEM { en: "Item", ja: "項目" }
    DIFF_VALUE { en: "Value", ja: "内容" }
    DIFF_OLD { en: "Old", ja: "変更前" }
    DIFF_NEW { en: "New", ja: "変更後" }
    DIFF_SHA { en: "SHA-256 of the canonical policy", ja: "正規化ポリシーの SHA-256" }
    DIFF_EVALUATED { en: "Evaluated for", ja: "評価日" }
    DIFF_GATEWAYS { en: "Gateways compared", ja: "対象ゲートウェイ" }
    DIFF_VERDICT { en: "Verdict", ja: "判定" }
    DIFF_NOTE { en: "Note", ja: "注意" }
    DIFF_NO_CHANGE { en: "No change: both policies permit the same connections, with the same flows, guardrail findings and structure.", ja: "変更なし: 両ポリシーが許可する通信は同一で、フロー・ガードレール所見・構成にも差異はない。" }
    DIFF_CHANGED { en: "changed", ja: "変更あり" }
    DIFF_BLOCKED { en: "The new policy has guardrail errors: it cannot be compiled as it is.", ja: "変更後のポリシーにはエラーとなるガードレール所見があり、このままではコンパイルできない。" }
    DIFF_ADDED { en: "Flows added", ja: "追加されたフロー" }
    DIFF_REMOVED { en: "Flows removed", ja: "削除されたフロー" }
    DIFF_FLOW_CHANGED { en: "Flows changed", ja: "変更されたフロー" }
    DIFF_REACHABLE { en: "Newly reachable", ja: "新たに到達可能になる通信" }
    DIFF_UNREACHABLE { en: "No longer reachable", ja: "到達不可になる通信" }
    DIFF_APPEARED { en: "Guardrail findings that appear", ja: "新たに発生するガードレール所見" }
    DIFF_DISAPPEARED { en: "Guardrail findings that disappear", ja: "解消されるガードレール所見" }
    DIFF_STRUCTURE { en: "Structural changes (gateways, interfaces, zones)", ja: "構成の変更 (ゲートウェイ・インターフェース・ゾーン)" }
    DIFF_NONE { en: "none", ja: "なし" }
    DIFF_ID { en: "ID", ja: "ID" }
    DIFF_FROM { en: "From", ja: "送信元" }
    DIFF_TO { en: "To", ja: "宛先" }
    DIFF_PORTS { en: "Ports", ja: "ポート" }
    DIFF_PURPOSE { en: "Purpose", ja: "目的" }
    DIFF_APPROVER { en: "Approved by", ja: "承認者" }
    DIFF_EXPIRES { en: "Expires", ja: "有効期限" }
    DIFF_DEFINED { en: "Defined at", ja: "定義箇所" }
    DIFF_FIELD { en: "Field", ja: "項目" }
    DIFF_BEFORE { en: "Old", ja: "変更前" }
    DIFF_AFTER { en: "New", ja: "変更後" }
    DIFF_SRC { en: "Source addresses", ja: "送信元アドレス" }
    DIFF_DST { en: "Destination addresses", ja: "宛先アドレス" }
    DIFF_FLOWS { en: "Permitted by", ja: "根拠のフロー" }
    DIFF_CODE { en: "Code", ja: "コード" }
    DIFF_RULE { en: "Rule", ja: "規則" }
    DIFF_SEVERITY { en: "Severity", ja: "重大度" }
    DIFF_FINDING { en: "Finding", ja: "所見" }
    DIFF_AT { en: "At", ja: "箇所" }
    DIFF_GW_SELF { en: "the gateway itself", ja: "ゲートウェイ自身" }
    DIFF_ANY { en: "any address", ja: "全アドレス" }
    DIFF_ZONE { en: "the whole zone", ja: "ゾーン全体" }
    DIFF_ALL { en: "all traffic", ja: "全通信" }
    DIFF_V4_ONLY { en: "IPv4 only", ja: "IPv4のみ" }
    DIFF_V6_ONLY { en: "IPv6 only", ja: "IPv6のみ" }
    DIFF_INTRA { en: "intra-zone traffic (intra_zone = \"accept\")", ja: "ゾーン内通信 (intra_zone = \"accept\")" }
    DIFF_REACH_NOTE { en: "Compared: what each gateway accepts as a new connection (as compiled: sources limited to the zone's addresses).", ja: "新規接続として許可される通信 (コンパイル結果と同じ判定: 送信元はゾーンのアドレスに限る) を比較した。" }

    // ---- zonegate matrix: labels ----------------------------------------------------------------------
    MATRIX_TITLE { en: "Flow matrix", ja: "通信マトリクス" }
    MATRIX_ITEM { en: "Item", ja: "項目" }
    MATRIX_VALUE { en: "Value", ja: "内容" }
    MATRIX_NAME { en: "Policy name", ja: "ポリシー名" }
    MATRIX_REVISION { en: "Revision", ja: "改訂" }
    MATRIX_SHA { en: "SHA-256 of the canonical policy", ja: "正規化ポリシーの SHA-256" }
    MATRIX_RULESET_SHA { en: "SHA-256 of the ruleset each gateway loads", ja: "ゲートウェイが読み込むルールセットの SHA-256" }
    MATRIX_SIGNER { en: "Approval signature (verified key)", ja: "承認の署名(検証済みの鍵)" }
    MATRIX_PROFILE { en: "Profile", ja: "プロファイル" }
    MATRIX_MODEL { en: "Network model", ja: "ネットワークモデル" }
    MATRIX_GATEWAY { en: "Gateway", ja: "ゲートウェイ" }
    MATRIX_ALL_GATEWAYS { en: "all gateways", ja: "全ゲートウェイ" }
    MATRIX_EVALUATED { en: "Evaluated for", ja: "評価日" }
    MATRIX_INTRA { en: "Intra-zone traffic", ja: "ゾーン内通信" }
    MATRIX_INTRA_ACCEPT { en: "accepted (intra_zone = \"accept\")", ja: "許可 (intra_zone = \"accept\")" }
    MATRIX_INTRA_DROP { en: "declared flows only (intra_zone = \"drop\")", ja: "明示した通信のみ (intra_zone = \"drop\")" }
    MATRIX_ZONES { en: "Zones", ja: "ゾーン" }
    MATRIX_ZONE { en: "Zone", ja: "ゾーン" }
    MATRIX_CLASS { en: "Class", ja: "区分" }
    MATRIX_NETWORKS { en: "Networks", ja: "ネットワーク" }
    MATRIX_INTERFACES { en: "Interfaces", ja: "インターフェース" }
    MATRIX_MATRIX { en: "Matrix (rows: from, columns: to)", ja: "マトリクス (行: 送信元、列: 宛先)" }
    MATRIX_CORNER { en: "from ↓ / to →", ja: "送信元 ↓ / 宛先 →" }
    MATRIX_GW_SELF { en: "the gateway itself", ja: "ゲートウェイ自身" }
    MATRIX_DENIED { en: "all denied", ja: "すべて拒否" }
    MATRIX_INTRA_CELL { en: "intra-zone: accepted", ja: "ゾーン内: 許可" }
    MATRIX_NA { en: "—", ja: "—" }
    MATRIX_LEGEND { en: "\"all denied\": no flow is permitted; every new connection is dropped and logged. Flow ids refer to the list below.", ja: "「すべて拒否」: 許可された通信はなく、新しい接続はすべて拒否され記録される。セルの通信IDは下の一覧に対応する。" }
    MATRIX_PERMITTED { en: "Permitted flows", ja: "許可されている通信" }
    MATRIX_ID { en: "ID", ja: "ID" }
    MATRIX_FROM { en: "From", ja: "送信元" }
    MATRIX_TO { en: "To", ja: "宛先" }
    MATRIX_PORTS { en: "Ports", ja: "ポート" }
    MATRIX_PURPOSE { en: "Purpose", ja: "目的" }
    MATRIX_APPROVER { en: "Approved by", ja: "承認者" }
    MATRIX_EXPIRES { en: "Expires", ja: "有効期限" }
    MATRIX_DEFINED { en: "Defined at", ja: "定義箇所" }
    MATRIX_NOTES { en: "Notes", ja: "備考" }
    MATRIX_L2 { en: "L2 control", ja: "L2制御" }
    MATRIX_NONE { en: "none", ja: "なし" }
    MATRIX_GUARD { en: "Guardrail results (三層の対策)", ja: "ガードレール検査結果 (三層の対策)" }
    MATRIX_NOT_APPLIED { en: "Guardrails are not applied (profile = \"none\").", ja: "ガードレールは適用されていない (profile = \"none\")。" }
    MATRIX_CODE { en: "Code", ja: "コード" }
    MATRIX_RULE { en: "Rule", ja: "規則" }
    MATRIX_SEVERITY { en: "Severity", ja: "重大度" }
    MATRIX_RESULT { en: "Result", ja: "結果" }
    MATRIX_BASIS { en: "Basis", ja: "根拠" }
    MATRIX_FINDINGS { en: "Findings", ja: "指摘事項" }
    MATRIX_EXPIRING { en: "Flows expiring within 30 days", ja: "期限間近の通信 (30日以内)" }
    MATRIX_EXPIRED { en: "Expired flows (not compiled)", ja: "期限切れの通信 (コンパイル対象外)" }
    MATRIX_DAYS_LEFT { en: "Days left", ja: "残り日数" }
    MATRIX_EXCEPTIONS { en: "Declared exceptions", ja: "例外措置" }
    MATRIX_EXCEPTION { en: "Reason", ja: "例外の理由" }
    MATRIX_NOTHING_PERMITTED { en: "No flow is permitted.", ja: "許可されている通信はない。" }

    // ---- zonegate diff: structural changes ---------------------------------------------------
    DIFF_GATEWAY_ADDED { en: "gateway {gateway} added", ja: "ゲートウェイ {gateway} を追加" }
    DIFF_GATEWAY_REMOVED { en: "gateway {gateway} removed", ja: "ゲートウェイ {gateway} を削除" }
    DIFF_INTERFACE_ADDED { en: "{gw}: interface {interface} added (zone {zone})", ja: "{gw}: インターフェース {interface} を追加 (ゾーン {zone})" }
    DIFF_INTERFACE_REMOVED { en: "{gw}: interface {interface} removed (zone {zone})", ja: "{gw}: インターフェース {interface} を削除 (ゾーン {zone})" }
    DIFF_INTERFACE_MOVED { en: "{gw}: interface {interface} moved from zone {old} to {new}", ja: "{gw}: インターフェース {interface} の所属ゾーン {old} → {new}" }
    DIFF_ZONE_ADDED { en: "zone {zone} added (networks {networks})", ja: "ゾーン {zone} を追加 (ネットワーク {networks})" }
    DIFF_ZONE_REMOVED { en: "zone {zone} removed (networks {networks})", ja: "ゾーン {zone} を削除 (ネットワーク {networks})" }
    DIFF_ZONE_NETWORKS { en: "zone {zone} networks: {old} -> {new}", ja: "ゾーン {zone} のネットワーク: {old} → {new}" }
    DIFF_INTRA_ZONE { en: "intra-zone traffic (intra_zone): {old} -> {new}", ja: "ゾーン内通信 (intra_zone): {old} → {new}" }

    // ---- zonegate matrix: classes and results ------------------------------------------------
    MATRIX_ROLE_MYNUMBER { en: "My Number", ja: "マイナンバー利用事務系" }
    MATRIX_ROLE_LGWAN { en: "LGWAN", ja: "LGWAN接続系" }
    MATRIX_ROLE_INTERNET { en: "internet-connected", ja: "インターネット接続系" }
    MATRIX_ROLE_EXTERNAL { en: "external (Internet)", ja: "インターネット(外部)" }
    MATRIX_ISOLATION_MYNUMBER_LIKE { en: "isolated like My Number", ja: "マイナンバー系に準じた隔離" }
    MATRIX_ISOLATION_CRITICAL { en: "critical", ja: "重要系" }
    MATRIX_CLASS_GENERIC { en: "generic", ja: "一般" }
    MATRIX_MODEL_NAME { en: "{greek} model ({model})", ja: "{greek}モデル ({model})" }
    MATRIX_SEVERITY_STRICT_MAC { en: "warning (error with strict_mac)", ja: "警告 (strict_mac ではエラー)" }
    MATRIX_RESULT_PASS { en: "pass", ja: "適合" }
    MATRIX_RESULT_FAIL { en: "fail", ja: "不適合" }
    MATRIX_RESULT_WARNING { en: "warning", ja: "警告あり" }
    MATRIX_OVERLAP_ONE { en: "overlaps {ids}, which decides the overlap", ja: "{ids} と重複 (重複部分は {ids} が優先)" }
    MATRIX_OVERLAP_MANY { en: "overlaps {ids}, which decide the overlap", ja: "{ids} と重複 (重複部分は {ids} が優先)" }

    // ---- zonegate fleet ------------------------------------------------------------------------
    FLEET_TITLE { en: "Gateway fleet self-inspection report", ja: "ゲートウェイ群 自己点検報告" }
    FLEET_POLICY { en: "Approved policy", ja: "承認済みポリシー" }
    FLEET_SOURCE { en: "Source", ja: "情報源" }
    FLEET_GENERATED { en: "Generated", ja: "作成日時" }
    FLEET_GATEWAY { en: "Gateway", ja: "ゲートウェイ" }
    FLEET_APPROVED { en: "Approved ruleset SHA-256", ja: "承認済みルールセット SHA-256" }
    FLEET_RUNNING { en: "Running ruleset SHA-256", ja: "稼働中ルールセット SHA-256" }
    FLEET_REVISION { en: "Running revision", ja: "稼働中リビジョン" }
    FLEET_SIGNER { en: "Approved by key", ja: "承認鍵" }
    FLEET_LAST_APPLY { en: "Last apply", ja: "最終適用" }
    FLEET_STATE { en: "Findings", ja: "所見" }
    FLEET_OK { en: "in order", ja: "問題なし" }
    FLEET_UNKNOWN { en: "Gateways not in the policy", ja: "ポリシーにないゲートウェイ" }
    FLEET_NOT_MEASURED { en: "denied packets not measured (no [alerts] on the agent, or status files as the source)", ja: "拒否パケットは未計測（エージェントに [alerts] がないか、状態ファイルが情報源）" }
    FLEET_SUMMARY_OK { en: "Every gateway runs the approved policy.", ja: "すべてのゲートウェイが承認済みポリシーで稼働しています。" }
    FLEET_SUMMARY_FINDINGS { en: "finding(s).", ja: "件の所見があります。" }
    FLEET_NOT_REPORTING { en: "not reporting (declared, never seen)", ja: "報告なし（ポリシーにあるが一度も見えない）" }
    FLEET_SILENT { en: "silent (last report {at})", ja: "沈黙（最後の報告 {at}）" }
    FLEET_HASH_NOT_APPROVED { en: "ruleset not approved: approved {approved}, running {running}", ja: "承認外のルールセット: 承認 {approved} / 稼働 {running}" }
    FLEET_DUPLICATE { en: "several agents claim this gateway: {instances}", ja: "同じ名前のエージェントが複数: {instances}" }
    FLEET_STAGED { en: "staged change not applied (since {since})", ja: "未適用の変更あり（{since} から）" }
    FLEET_DRIFT { en: "drift repaired {bursts} time(s) in the last day", ja: "過去 1 日に改ざん検知 {bursts} 回（修復済み）" }
    FLEET_DENIED_MYNUMBER { en: "{packets} packet(s) denied into My Number zone {zone} in the last day", ja: "過去 1 日にマイナンバー系 {zone} への拒否 {packets} パケット" }
    FLEET_NOT_ENFORCING { en: "not enforcing (mode {mode}, {kind})", ja: "強制していない（mode {mode}, {kind}）" }
    FLEET_SOURCE_LINE { en: "{kind} {address} (silent after {seconds} s)", ja: "{kind} {address}（{seconds} 秒報告がなければ沈黙）" }
}
