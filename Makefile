# PGXS build of the softdelete module. CMakeLists.txt builds the same sources.
MODULE_big = softdelete
EXTENSION = softdelete
DATA = $(wildcard extension/softdelete--*.sql) $(wildcard extension/softdelete--*.control)
SRCS = $(wildcard src/*.cpp)
OBJS = $(SRCS:.cpp=.o)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-config=$(srcdir)/test/softdelete.conf

PG_CONFIG ?= pg_config
PG_CXXFLAGS += -std=c++17 -Wall -Wextra -Wno-register -Wno-missing-field-initializers -Wno-unused-parameter
ifdef WERROR
PG_CXXFLAGS += -Werror
endif
# A change to a header rebuilds every object that includes it: a struct that
# grows in one object and not in another corrupts memory.
PG_CXXFLAGS += -MMD -MP
EXTRA_CLEAN += $(OBJS:.o=.d)
SHLIB_LINK += -lstdc++

# No LLVM bitcode for C++ sources: the JIT inlines C only.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PostgreSQL's headers go in as system headers so their warnings are not ours.
override CPPFLAGS := $(patsubst -I%,-isystem %,$(filter -I$(includedir_server)%,$(CPPFLAGS))) $(filter-out -I$(includedir_server)%,$(CPPFLAGS))

-include $(OBJS:.o=.d)
