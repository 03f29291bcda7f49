from .class_center_hook import ClassCenterHook

__all__ = ['ClassCenterHook']
