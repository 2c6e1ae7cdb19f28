# Debian packages (issue 13): "make deb" builds liblure0, liblure-dev and
# lure-tools from a clean copy of the distribution in build-deb/ and runs
# lintian (tools/deb-build.sh); "make deb-install-check" then installs them
# on this machine, builds programs against them with pkg-config alone, runs
# them and purges the packages again (tests/deb-install.sh, as root).
# ./bootstrap.sh --deb installs the packaging tools.

EXTRA_DIST += \
	debian/changelog \
	debian/control \
	debian/copyright \
	debian/rules \
	debian/source/format \
	debian/liblure0.install \
	debian/liblure0.symbols \
	debian/liblure-dev.install \
	debian/liblure-dev.lintian-overrides \
	debian/lure-tools.install \
	debian/not-installed \
	tools/deb-build.sh \
	tests/deb-install.sh \
	tests/deb-symbols.sh

# debian/liblure0.symbols against src/lure.map and the built library.
TESTS += tests/deb-symbols.sh

DEB_DIR = build-deb
deb:
	rm -rf $(DEB_DIR) && $(MKDIR_P) $(DEB_DIR)
	$(MAKE) $(AM_MAKEFLAGS) distdir distdir=$(DEB_DIR)/$(PACKAGE)-$(VERSION)
	srcdir="$(srcdir)" $(SHELL) $(srcdir)/tools/deb-build.sh $(DEB_DIR)/$(PACKAGE)-$(VERSION)

deb-install-check: deb
	srcdir="$(srcdir)" $(SHELL) $(srcdir)/tests/deb-install.sh $(DEB_DIR)

clean-local: clean-deb
clean-deb:
	rm -rf $(DEB_DIR) && $(MKDIR_P) $(DEB_DIR)
.PHONY: deb deb-install-check clean-deb
