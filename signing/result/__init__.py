"""Composition of the joint review result (施工图联合审查合格书): certificate, drawing manifest, stamped sheets."""
