import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {T0, describeApprovalGate} from './gate-suite.js'

describeApprovalGate('embedded', () => EmbeddedStore.open({now: () => T0}))
