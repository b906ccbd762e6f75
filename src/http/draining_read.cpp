#include "http/draining_read.hpp"

namespace workgate::http {

#if defined(WORKGATE_IO_URING)
DrainingReads::DrainingReads(boost::asio::execution_context&) {}
#else
DrainingReads::DrainingReads(boost::asio::execution_context& context)
    : reactor_(&boost::asio::use_service<boost::asio::detail::reactor>(context)) {}
#endif

}  // namespace workgate::http
