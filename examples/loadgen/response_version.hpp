#pragma once
// Which version answered: the "version" field of a JSON body (what profile-api
// sends), else the X-Backend-Version header, else empty.

#include <string>
#include <string_view>

namespace cohort::loadgen {

std::string response_version(std::string_view body, std::string_view version_header);

}  // namespace cohort::loadgen
