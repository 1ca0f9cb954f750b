// The emulator's stand-in for CANN's kernel_operator.h: generated Ascend C includes this name.
#pragma once
#include "ascend_emu.h"
