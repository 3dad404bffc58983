#ifndef AIRLOCK_CLIBFUZZER_H
#define AIRLOCK_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry for a program with its own main (compiler-rt, FuzzerInterface.h). Defined
/// only when linked with -sanitize=fuzzer; FuzzDriver calls it only in such builds (FUZZING).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));

/// One input to the fuzz target; each fuzzer executable defines it (@_cdecl).
int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size);

#endif
