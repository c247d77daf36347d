#define BOOST_TEST_MODULE cost_model
#include <boost/test/unit_test.hpp>
BOOST_AUTO_TEST_CASE(placeholder_removed_below) {}
