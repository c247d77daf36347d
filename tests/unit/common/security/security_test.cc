#define BOOST_TEST_MODULE security
#include <boost/test/unit_test.hpp>

#include "common/security/auth.h"
#include "common/security/transport.h"

using namespace tcobench;

BOOST_AUTO_TEST_CASE(token_files_are_checked_line_by_line) {
  auto ok = TokenTable::Parse("# comment\n\nadmin ops 0123456789abcdef0\nclient alice  aaaaaaaaaaaaaaaa\n"
                              "worker w1\tbbbbbbbbbbbbbbbb\n");
  BOOST_REQUIRE_MESSAGE(ok.ok(), ok.status().message());
  BOOST_TEST(ok->size() == 3u);
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"root ops 0123456789abcdef0\n", "tokens line 1: unknown role 'root' (worker, client or admin)"},
           {"client alice\n", "tokens line 1: expected ROLE NAME TOKEN"},
           {"client alice short\n", "tokens line 1: the token is shorter than 16 characters"},
           {"client a aaaaaaaaaaaaaaaa\nclient b aaaaaaaaaaaaaaaa\n", "tokens line 2: the token repeats a's"},
           {"# nothing\n", "tokens holds no tokens"}}) {
    auto bad = TokenTable::Parse(text);
    BOOST_TEST_INFO(text);
    BOOST_TEST(bad.status().code() == absl::StatusCode::kInvalidArgument);
    BOOST_TEST(std::string(bad.status().message()) == "--auth-tokens: " + why);
  }
}

BOOST_AUTO_TEST_CASE(bearer_tokens_name_their_principal) {
  auto table = TokenTable::Parse("client alice aaaaaaaaaaaaaaaa\nworker w1 bbbbbbbbbbbbbbbb\n");
  BOOST_REQUIRE(table.ok());
  auto alice = table->Authenticate("Bearer aaaaaaaaaaaaaaaa");
  BOOST_REQUIRE(alice.ok());
  BOOST_TEST(alice->name == "alice");
  BOOST_TEST(std::string(RoleName(alice->role)) == "client");
  BOOST_TEST(std::string(RoleName(table->Authenticate("Bearer bbbbbbbbbbbbbbbb")->role)) == "worker");
  for (const char* bad : {"", "aaaaaaaaaaaaaaaa", "Bearer ", "Bearer aaaaaaaaaaaaaaab", "bearer aaaaaaaaaaaaaaaa",
                          "Basic aaaaaaaaaaaaaaaa"}) {
    BOOST_TEST_INFO(bad);
    BOOST_TEST(table->Authenticate(bad).status().code() == absl::StatusCode::kUnauthenticated);
  }
}

BOOST_AUTO_TEST_CASE(the_rate_limiter_allows_bursts_then_the_rate) {
  double now = 100;
  RateLimiter limiter(2, [&] { return now; });
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += limiter.Allow("alice");
  BOOST_TEST(allowed == 4);  // a burst of twice the rate
  BOOST_TEST(limiter.Allow("bob"));  // each client its own budget
  now += 1;
  BOOST_TEST(limiter.Allow("alice"));
  BOOST_TEST(limiter.Allow("alice"));
  BOOST_TEST(!limiter.Allow("alice"));
}

BOOST_AUTO_TEST_CASE(plaintext_servers_stay_on_loopback_unless_insecure) {
  for (const char* local : {"127.0.0.1:7700", "localhost:1", "[::1]:7700", "127.1.2.3:0", "unix:/tmp/s"}) {
    BOOST_TEST_INFO(local);
    BOOST_TEST(IsLoopbackAddress(local));
  }
  for (const char* wide : {"0.0.0.0:7700", "[::]:7700", "10.0.0.1:7700", "example.com:7700", ":7700"}) {
    BOOST_TEST_INFO(wide);
    BOOST_TEST(!IsLoopbackAddress(wide));
  }
  BOOST_TEST(MakeServerCredentials({}, "127.0.0.1:7700").ok());
  auto refused = MakeServerCredentials({}, "0.0.0.0:7700");
  BOOST_TEST(std::string(refused.status().message()).find("--insecure") != std::string::npos);
  BOOST_TEST(MakeServerCredentials({"", "", "", true}, "0.0.0.0:7700").ok());
  BOOST_TEST(std::string(MakeServerCredentials({"c.pem", "", "", false}, "127.0.0.1:1").status().message()) ==
             "--tls-cert and --tls-key go together");
  BOOST_TEST(std::string(MakeServerCredentials({"/nonexistent.pem", "/k.pem", "", false}, "0.0.0.0:1")
                             .status()
                             .message()) == "--tls-cert: cannot read '/nonexistent.pem'");
  BOOST_TEST(std::string(MakeChannel({"127.0.0.1:1", "", "c.pem", "k.pem", ""}).status().message()) ==
             "--tls-cert and --tls-key (mutual TLS) need --tls-ca");
}
