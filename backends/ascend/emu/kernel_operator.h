// The emulator's stand-in for CANN's kernel_operator.h: generated Ascend C includes this name.
#pragma once
#include "ascend_emu.h"
#define TL_REQUIRE(cond, msg) \
  do {                            \
    if (!(cond)) AscendC::fail(std::source_location::current(), msg); \
  } while (0)
