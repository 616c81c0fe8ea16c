/*
 * dsdt.asl: hyve's DSDT (ACPI 6.5 ch. 19, ASL). Compiled with iasl
 * (acpica-tools) into loaders/dsdt_aml.h by `make dsdt`; the test cases
 * acpi/dsdt-current checks the two agree. loaders/acpi.c writes the table
 * header itself and copies the AML that follows it.
 */
DefinitionBlock ("", "DSDT", 2, "HYVE  ", "HYVEDSDT", 1)
{
    /* Soft-off: SLP_TYP 0 with SLP_EN in PM1a_CNT (devices/sysctl.h). */
    Name (_S5, Package (4) { 0, 0, 0, 0 })

    Scope (\_SB)
    {
        /* QEMU's ISA pvpanic device (pvpanic.rst): Linux's pvpanic-mmio driver. */
        Device (PEVT)
        {
            Name (_HID, "QEMU0001")
            Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0505, 0x0505, 0x01, 0x01) })
        }

        /* PCI host bridge, segment 0, bus 0 (devices/pci.h): configuration
         * mechanism #1 and ECAM (the MCFG table); the windows its BARs decode. */
        Device (PCI0)
        {
            Name (_HID, EisaId ("PNP0A08"))   /* PCI Express root bridge: ECAM */
            Name (_CID, EisaId ("PNP0A03"))   /* PCI root bridge */
            Name (_UID, Zero)
            Name (_SEG, Zero)
            Name (_BBN, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
                    0x0000, 0x0000, 0x0000, 0x0000, 0x0001)
                IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
                /* The ISA ports below mechanism #1, and the I/O BAR window. */
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8)
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0xC000, 0xFFFF, 0x0000, 0x4000)
                /* The memory BAR window: the MMIO hole up to the ECAM window. */
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
                    0x00000000, 0xC0000000, 0xDFFFFFFF, 0x00000000, 0x20000000)
            })

            /* PCI Firmware 3.2 4.5: the OS may take every feature it asks for
             * (there is no firmware that handles any of them). */
            Method (_OSC, 4, NotSerialized)
            {
                CreateDWordField (Arg3, Zero, CDW1)
                If ((Arg0 == ToUUID ("33db4d5b-1ff7-401c-9657-7441c03dd766")))
                {
                    If ((Arg1 != One))
                    {
                        CDW1 |= 0x08   /* unrecognised revision */
                    }
                }
                Else
                {
                    CDW1 |= 0x04       /* unrecognised UUID */
                }
                Return (Arg3)
            }

            /* INTx routing (ACPI 6.2.13): slot s, pin p (0 = INTA) raises
             * GSI 16 + ((s + p) & 3) on the I/O APIC, level, active low
             * (devices/pci.h PCI_INTX_GSI). */
            Name (_PRT, Package ()
            {
                Package () { 0x00FFFF, 0, Zero, 16 },
                Package () { 0x00FFFF, 1, Zero, 17 },
                Package () { 0x00FFFF, 2, Zero, 18 },
                Package () { 0x00FFFF, 3, Zero, 19 },
                Package () { 0x01FFFF, 0, Zero, 17 },
                Package () { 0x01FFFF, 1, Zero, 18 },
                Package () { 0x01FFFF, 2, Zero, 19 },
                Package () { 0x01FFFF, 3, Zero, 16 },
                Package () { 0x02FFFF, 0, Zero, 18 },
                Package () { 0x02FFFF, 1, Zero, 19 },
                Package () { 0x02FFFF, 2, Zero, 16 },
                Package () { 0x02FFFF, 3, Zero, 17 },
                Package () { 0x03FFFF, 0, Zero, 19 },
                Package () { 0x03FFFF, 1, Zero, 16 },
                Package () { 0x03FFFF, 2, Zero, 17 },
                Package () { 0x03FFFF, 3, Zero, 18 },
                Package () { 0x04FFFF, 0, Zero, 16 },
                Package () { 0x04FFFF, 1, Zero, 17 },
                Package () { 0x04FFFF, 2, Zero, 18 },
                Package () { 0x04FFFF, 3, Zero, 19 },
                Package () { 0x05FFFF, 0, Zero, 17 },
                Package () { 0x05FFFF, 1, Zero, 18 },
                Package () { 0x05FFFF, 2, Zero, 19 },
                Package () { 0x05FFFF, 3, Zero, 16 },
                Package () { 0x06FFFF, 0, Zero, 18 },
                Package () { 0x06FFFF, 1, Zero, 19 },
                Package () { 0x06FFFF, 2, Zero, 16 },
                Package () { 0x06FFFF, 3, Zero, 17 },
                Package () { 0x07FFFF, 0, Zero, 19 },
                Package () { 0x07FFFF, 1, Zero, 16 },
                Package () { 0x07FFFF, 2, Zero, 17 },
                Package () { 0x07FFFF, 3, Zero, 18 },
                Package () { 0x08FFFF, 0, Zero, 16 },
                Package () { 0x08FFFF, 1, Zero, 17 },
                Package () { 0x08FFFF, 2, Zero, 18 },
                Package () { 0x08FFFF, 3, Zero, 19 },
                Package () { 0x09FFFF, 0, Zero, 17 },
                Package () { 0x09FFFF, 1, Zero, 18 },
                Package () { 0x09FFFF, 2, Zero, 19 },
                Package () { 0x09FFFF, 3, Zero, 16 },
                Package () { 0x0AFFFF, 0, Zero, 18 },
                Package () { 0x0AFFFF, 1, Zero, 19 },
                Package () { 0x0AFFFF, 2, Zero, 16 },
                Package () { 0x0AFFFF, 3, Zero, 17 },
                Package () { 0x0BFFFF, 0, Zero, 19 },
                Package () { 0x0BFFFF, 1, Zero, 16 },
                Package () { 0x0BFFFF, 2, Zero, 17 },
                Package () { 0x0BFFFF, 3, Zero, 18 },
                Package () { 0x0CFFFF, 0, Zero, 16 },
                Package () { 0x0CFFFF, 1, Zero, 17 },
                Package () { 0x0CFFFF, 2, Zero, 18 },
                Package () { 0x0CFFFF, 3, Zero, 19 },
                Package () { 0x0DFFFF, 0, Zero, 17 },
                Package () { 0x0DFFFF, 1, Zero, 18 },
                Package () { 0x0DFFFF, 2, Zero, 19 },
                Package () { 0x0DFFFF, 3, Zero, 16 },
                Package () { 0x0EFFFF, 0, Zero, 18 },
                Package () { 0x0EFFFF, 1, Zero, 19 },
                Package () { 0x0EFFFF, 2, Zero, 16 },
                Package () { 0x0EFFFF, 3, Zero, 17 },
                Package () { 0x0FFFFF, 0, Zero, 19 },
                Package () { 0x0FFFFF, 1, Zero, 16 },
                Package () { 0x0FFFFF, 2, Zero, 17 },
                Package () { 0x0FFFFF, 3, Zero, 18 },
                Package () { 0x10FFFF, 0, Zero, 16 },
                Package () { 0x10FFFF, 1, Zero, 17 },
                Package () { 0x10FFFF, 2, Zero, 18 },
                Package () { 0x10FFFF, 3, Zero, 19 },
                Package () { 0x11FFFF, 0, Zero, 17 },
                Package () { 0x11FFFF, 1, Zero, 18 },
                Package () { 0x11FFFF, 2, Zero, 19 },
                Package () { 0x11FFFF, 3, Zero, 16 },
                Package () { 0x12FFFF, 0, Zero, 18 },
                Package () { 0x12FFFF, 1, Zero, 19 },
                Package () { 0x12FFFF, 2, Zero, 16 },
                Package () { 0x12FFFF, 3, Zero, 17 },
                Package () { 0x13FFFF, 0, Zero, 19 },
                Package () { 0x13FFFF, 1, Zero, 16 },
                Package () { 0x13FFFF, 2, Zero, 17 },
                Package () { 0x13FFFF, 3, Zero, 18 },
                Package () { 0x14FFFF, 0, Zero, 16 },
                Package () { 0x14FFFF, 1, Zero, 17 },
                Package () { 0x14FFFF, 2, Zero, 18 },
                Package () { 0x14FFFF, 3, Zero, 19 },
                Package () { 0x15FFFF, 0, Zero, 17 },
                Package () { 0x15FFFF, 1, Zero, 18 },
                Package () { 0x15FFFF, 2, Zero, 19 },
                Package () { 0x15FFFF, 3, Zero, 16 },
                Package () { 0x16FFFF, 0, Zero, 18 },
                Package () { 0x16FFFF, 1, Zero, 19 },
                Package () { 0x16FFFF, 2, Zero, 16 },
                Package () { 0x16FFFF, 3, Zero, 17 },
                Package () { 0x17FFFF, 0, Zero, 19 },
                Package () { 0x17FFFF, 1, Zero, 16 },
                Package () { 0x17FFFF, 2, Zero, 17 },
                Package () { 0x17FFFF, 3, Zero, 18 },
                Package () { 0x18FFFF, 0, Zero, 16 },
                Package () { 0x18FFFF, 1, Zero, 17 },
                Package () { 0x18FFFF, 2, Zero, 18 },
                Package () { 0x18FFFF, 3, Zero, 19 },
                Package () { 0x19FFFF, 0, Zero, 17 },
                Package () { 0x19FFFF, 1, Zero, 18 },
                Package () { 0x19FFFF, 2, Zero, 19 },
                Package () { 0x19FFFF, 3, Zero, 16 },
                Package () { 0x1AFFFF, 0, Zero, 18 },
                Package () { 0x1AFFFF, 1, Zero, 19 },
                Package () { 0x1AFFFF, 2, Zero, 16 },
                Package () { 0x1AFFFF, 3, Zero, 17 },
                Package () { 0x1BFFFF, 0, Zero, 19 },
                Package () { 0x1BFFFF, 1, Zero, 16 },
                Package () { 0x1BFFFF, 2, Zero, 17 },
                Package () { 0x1BFFFF, 3, Zero, 18 },
                Package () { 0x1CFFFF, 0, Zero, 16 },
                Package () { 0x1CFFFF, 1, Zero, 17 },
                Package () { 0x1CFFFF, 2, Zero, 18 },
                Package () { 0x1CFFFF, 3, Zero, 19 },
                Package () { 0x1DFFFF, 0, Zero, 17 },
                Package () { 0x1DFFFF, 1, Zero, 18 },
                Package () { 0x1DFFFF, 2, Zero, 19 },
                Package () { 0x1DFFFF, 3, Zero, 16 },
                Package () { 0x1EFFFF, 0, Zero, 18 },
                Package () { 0x1EFFFF, 1, Zero, 19 },
                Package () { 0x1EFFFF, 2, Zero, 16 },
                Package () { 0x1EFFFF, 3, Zero, 17 },
                Package () { 0x1FFFFF, 0, Zero, 19 },
                Package () { 0x1FFFFF, 1, Zero, 16 },
                Package () { 0x1FFFFF, 2, Zero, 17 },
                Package () { 0x1FFFFF, 3, Zero, 18 }
            })
        }

        /* The ECAM window is the chipset's, not RAM and not a BAR: Linux
         * uses MCFG only where a motherboard resource reserves it. */
        Device (MRES)
        {
            Name (_HID, EisaId ("PNP0C02"))
            Name (_UID, One)
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xE0000000, 0x00100000)
            })
        }
    }
}
